"""The network front: the API listener, the WebSocket protocol, the
twisted.web site and its health endpoints."""
