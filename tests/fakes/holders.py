"""Keep-alive readers without processes: holding a camera makes the fake
MediaMTX count a reader on its path (and, like MediaMTX's on-demand start,
publish it when ``auto_publish`` is on)."""
from __future__ import annotations

from twisted.application import service
from twisted.internet import defer

from camservice.mediamtx.holders import HOLD_QUERY


class FakeHolders(service.Service):
    def __init__(self, mediamtx):
        self._mediamtx = mediamtx
        self._held: set[str] = set()

    def holds(self, camera_id: str) -> bool:
        return camera_id in self._held

    def held(self) -> list[str]:
        return sorted(self._held)

    def hold(self, camera_id: str) -> None:
        if camera_id in self._held:
            return
        self._held.add(camera_id)
        live = self._mediamtx.live.get(camera_id)
        if live is not None:
            self._mediamtx.add_reader(camera_id)
            self._mediamtx.rtsp_sessions["hold-" + camera_id] = {
                "id": "hold-" + camera_id, "path": camera_id, "state": "read", "query": HOLD_QUERY,
            }
            if self._mediamtx.auto_publish and not live["ready"]:
                self._mediamtx.publish(camera_id)

    def release(self, camera_id: str) -> defer.Deferred:
        if camera_id in self._held:
            self._held.discard(camera_id)
            live = self._mediamtx.live.get(camera_id)
            if live is not None and live["readers"]:
                live["readers"].pop()
            self._mediamtx.rtsp_sessions.pop("hold-" + camera_id, None)
        return defer.succeed(None)
