"""The MQTT bridge: this node's cameras, recordings and events on an MQTT
broker, JSON-RPC over MQTT 5 request/response, and Home Assistant
discovery.

Modules: :mod:`~camservice.mqtt.compat` (paho-mqtt 1.6 and 2.x),
:mod:`~camservice.mqtt.client` (paho driven by the reactor),
:mod:`~camservice.mqtt.backoff`, :mod:`~camservice.mqtt.topics`,
:mod:`~camservice.mqtt.publisher` (retained state, coalescing),
:mod:`~camservice.mqtt.rpc`, :mod:`~camservice.mqtt.commands`,
:mod:`~camservice.mqtt.metrics`, :mod:`~camservice.mqtt.bridge` (the
``mqtt`` service) and :mod:`~camservice.mqtt.homeassistant`.
"""
