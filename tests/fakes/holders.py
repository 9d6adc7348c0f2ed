"""Keep-alive readers without processes: holding a camera makes the fake
MediaMTX count a reader on its path (and, like MediaMTX's on-demand start,
publish it when ``auto_publish`` is on).

With ``connect_at_once`` off, a held camera's reader connects only when
the test calls :meth:`connect` (an FFmpeg that is slow to start)."""
from __future__ import annotations

from twisted.application import service
from twisted.internet import defer

from camservice.mediamtx.holders import HOLD_QUERY, StreamHolders


class FakeHolders(service.Service):
    #: the query string the controller looks for (the real one carries
    #: the internal credential)
    query = HOLD_QUERY + "&token=i1-fake"

    def __init__(self, mediamtx):
        self._mediamtx = mediamtx
        self._held: set[str] = set()
        self.connect_at_once = True
        #: held cameras whose reader is connected
        self.connected: set[str] = set()

    def holds(self, camera_id: str) -> bool:
        return camera_id in self._held

    #: a reload participant as the real holders are, taking the same keys
    reloadable_keys = StreamHolders.reloadable_keys

    def checkConfig(self, new) -> None:
        """Nothing to refuse."""

    def reconfigService(self, new) -> None:
        """The fake readers have no address to move to: they stay
        connected."""
        return None

    def held(self) -> list[str]:
        return sorted(self._held)

    def hold(self, camera_id: str) -> None:
        if camera_id in self._held:
            return
        self._held.add(camera_id)
        if self.connect_at_once:
            self.connect(camera_id)

    def connect(self, camera_id: str) -> None:
        """The held camera's reader connects now."""
        assert camera_id in self._held, f"{camera_id} is not held"
        live = self._mediamtx.live.get(camera_id)
        if live is not None and camera_id not in self.connected:
            self.connected.add(camera_id)
            self._mediamtx.add_reader(camera_id)
            live["readers"][-1]["id"] = "hold-" + camera_id
            self._mediamtx.rtsp_sessions["hold-" + camera_id] = {
                "id": "hold-" + camera_id, "path": camera_id, "state": "read", "query": self.query,
            }
            if self._mediamtx.auto_publish and not live["ready"]:
                self._mediamtx.publish(camera_id)

    def release(self, camera_id: str) -> defer.Deferred:
        if camera_id in self._held:
            self._held.discard(camera_id)
            if camera_id in self.connected:
                self.connected.discard(camera_id)
                live = self._mediamtx.live.get(camera_id)
                if live is not None:
                    live["readers"] = [r for r in live["readers"] if r["id"] != "hold-" + camera_id]
                self._mediamtx.rtsp_sessions.pop("hold-" + camera_id, None)
        return defer.succeed(None)
