"""``/health/*``: JSON, no authentication, 200 when good and 503 when not."""
from __future__ import annotations

from typing import Callable

from twisted.web.resource import Resource

from camservice.codec import dumps
from camservice.status import SystemStatus

__all__ = ["HealthResource"]


class _Check(Resource):
    isLeaf = True

    def __init__(self, check: Callable[[], tuple[bool, dict]]):
        super().__init__()
        self._check = check

    def render_GET(self, request) -> bytes:
        good, body = self._check()
        request.setResponseCode(200 if good else 503)
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-store")
        return dumps(body)

    render_HEAD = render_GET


class HealthResource(Resource):
    """``/health`` with ``alive``, ``ready``, ``cameras``, ``mediamtx`` and ``mqtt``.

    :param status: the service's status.
    """

    def __init__(self, status: SystemStatus):
        super().__init__()
        self._status = status
        self.putChild(b"alive", _Check(self._alive))
        self.putChild(b"ready", _Check(self._ready))
        self.putChild(b"cameras", _Check(status.cameras_health))
        self.putChild(b"mediamtx", _Check(status.mediamtx_health))
        self.putChild(b"mqtt", _Check(status.mqtt_health))

    def _alive(self) -> tuple[bool, dict]:
        # Answering at all proves the reactor runs.
        return True, {"status": "alive", "uptime": int(self._status.uptime)}

    def _ready(self) -> tuple[bool, dict]:
        ready = self._status.is_ready()
        return ready, {
            "status": "ready" if ready else "not_ready",
            "components": self._status.components(),
        }
