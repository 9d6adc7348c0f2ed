"""The floor camservice's request figures are judged by: the least a
Twisted + Autobahn JSON-RPC server does per request (parse, dispatch,
serialise; no authentication, validation, logging or metrics), on the same
libraries as camservice.

    python floor_server.py PORT [json|orjson|ujson]

serves ws://127.0.0.1:PORT/ws with ``ping``, ``authenticate`` (anything
is accepted) and a one-camera ``get_camera_list``; the codec defaults to
the stdlib's. The benchmarks start it next to camservice and report
camservice's figures as ratios to it, measured in the same run.
"""
from __future__ import annotations

import sys

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site


def _codec(name: str):
    if name == "orjson":
        import orjson

        return orjson.loads, orjson.dumps
    if name == "ujson":
        import ujson

        def dumps(obj):
            return ujson.dumps(obj, ensure_ascii=False, escape_forward_slashes=False).encode()

        return ujson.loads, dumps
    import json

    def dumps(obj):
        return json.dumps(obj).encode()

    return json.loads, dumps


CAMERAS = {
    "cameras": [
        {
            "device": "camera1000",
            "status": "CONNECTED",
            "name": "Test pattern 0",
            "resolution": "640x480",
            "fps": 15,
            "streams": {"rtsp": "rtsp://127.0.0.1:8554/camera1000"},
        }
    ],
    "total": 1,
    "connected": 1,
}
METHODS = {
    "ping": lambda p: "pong",
    "authenticate": lambda p: {"authenticated": True},
    "get_camera_list": lambda p: CAMERAS,
}


def main(argv) -> None:
    port = int(argv[1])
    loads, dumps = _codec(argv[2] if len(argv) > 2 else "json")

    class Floor(WebSocketServerProtocol):
        def onMessage(self, payload, isBinary):
            req = loads(payload)
            result = METHODS[req["method"]](req.get("params"))
            self.sendMessage(dumps({"jsonrpc": "2.0", "id": req.get("id"), "result": result}))

    factory = WebSocketServerFactory(f"ws://127.0.0.1:{port}")
    factory.protocol = Floor
    root = Resource()
    root.putChild(b"ws", WebSocketResource(factory))
    reactor.listenTCP(port, Site(root), interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
