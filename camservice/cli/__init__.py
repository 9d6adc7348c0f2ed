"""``camctl``: a shell client of camservice's public API.

It speaks only what API.md and docs/api.rst document (WebSocket JSON-RPC,
``/files/...`` downloads over HTTP) and, for ``camctl fleet``, the MQTT
topics the bridge publishes; it imports nothing of the service.
"""
