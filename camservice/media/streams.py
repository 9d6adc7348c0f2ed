"""The ``streams`` service: the life of each camera's stream.

MediaMTX runs a camera's source on demand. Some work needs it running
whoever watches: ``start_streaming``, a recording. Each such user *holds*
the stream for a reason of its own (``"streaming"``, ``"recording"``); the
stream stays up while any reason holds it, through one keep-alive reader
(:mod:`camservice.mediamtx.holders`) that never touches the path's
configuration, so viewers are never dropped. Holding and letting go are
serialised per camera by a ``DeferredLock``, so a start racing a stop on
one camera sees one order.

The RPC methods call this; they hold no stream state of their own.
"""
from __future__ import annotations

from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from camservice._defer import async_to_deferred, locked
from camservice.cameras.model import Camera, CameraKind, CameraStatus, camera_number
from camservice.cameras.registry import CameraRegistry
from camservice.events import Event, EventBus
from camservice.mediamtx.controller import MediaMTXController
from camservice.mediamtx.errors import MediaMTXError
from camservice.mediamtx.paths import path_figures
from camservice.mediamtx.sources import OWNED_PATH
from camservice.media.errors import CameraNotConnected, NotStreamable, SourceDidNotStart

__all__ = ["STREAMED_KINDS", "StreamManager"]

#: kinds of camera camservice can run a source for
STREAMED_KINDS = (CameraKind.VIRTUAL, CameraKind.NETWORK, CameraKind.USB)


class StreamManager(service.Service):
    """Holds, start times and readiness of every camera's stream.

    :param holders: the keep-alive readers (``hold``, ``release``,
        ``holds``).
    :param bus: a camera that disconnects loses every hold: its source is
        gone, and whoever held it (a recording) is told by the same event.
    :param poll_interval: seconds between readiness checks while waiting
        for a source to start.
    """

    log = Logger(namespace="camservice.media.streams")

    def __init__(
        self,
        registry: CameraRegistry,
        controller: MediaMTXController,
        holders,
        bus: EventBus,
        clock,
        poll_interval: float = 0.05,
    ):
        self._registry = registry
        self._controller = controller
        self._holders = holders
        self._bus = bus
        self._clock = clock
        self._poll = poll_interval
        #: camera id -> {reason: POSIX time it began holding}
        self._holds: dict[str, dict[str, float]] = {}
        self._locks: dict[str, defer.DeferredLock] = {}
        self._unsubscribe: Optional[Callable[[], None]] = None

    def startService(self) -> None:
        super().startService()
        self._unsubscribe = self._bus.subscribe(self._on_event)

    def stopService(self):
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        return super().stopService()

    # -- which cameras ---------------------------------------------------

    def streamable(self, camera_id: str, need_connected: bool = True) -> Camera:
        """The camera, if camservice can run its stream.

        :raises UnknownCamera: no such camera.
        :raises NotStreamable: its kind has no source.
        :raises CameraNotConnected: ``need_connected`` and it is not.
        """
        camera = self._registry.get(camera_id)
        if camera.kind not in STREAMED_KINDS:
            raise NotStreamable(camera.id, camera.kind.value)
        if need_connected and camera.status is not CameraStatus.CONNECTED:
            raise CameraNotConnected(camera.id, camera.status.value)
        return camera

    # -- holding ---------------------------------------------------------

    def lock(self, camera_id: str) -> defer.DeferredLock:
        """The lock serialising changes to ``camera_id``'s stream (callers
        that must do more under it, such as a recording's start, take it)."""
        lock = self._locks.get(camera_id)
        if lock is None:
            lock = self._locks[camera_id] = defer.DeferredLock()
        return lock

    def holds(self, camera_id: str, reason: Optional[str] = None) -> bool:
        """Whether anything (or ``reason``) holds the camera's stream."""
        held = self._holds.get(camera_id, {})
        return bool(held) if reason is None else reason in held

    def since(self, camera_id: str, reason: str) -> Optional[float]:
        """POSIX time ``reason`` began holding the stream, if it does."""
        return self._holds.get(camera_id, {}).get(reason)

    def held(self) -> dict[str, tuple[str, ...]]:
        """Held cameras and their reasons."""
        return {camera_id: tuple(sorted(reasons)) for camera_id, reasons in self._holds.items() if reasons}

    @async_to_deferred
    async def keep_running(self, camera_id: str, reason: str) -> float:
        """Hold the camera's stream for ``reason`` and wait until it
        publishes, with camservice's reader connected (from then on it stays
        up). Idempotent per reason.

        :returns: a Deferred firing with the time ``reason`` began holding.
        :raises SourceDidNotStart: not publishing within
            ``mediamtx.source_start_timeout``; a hold this call made is
            taken back.
        :raises MediaMTXError: MediaMTX cannot be asked (the hold is taken
            back likewise).
        """
        async with locked(self.lock(camera_id)):
            camera = self.streamable(camera_id)
            newly = not self.holds(camera_id, reason)
            if newly:
                self._hold(camera_id, reason)
            timeout = self._controller.config.source_start_timeout
            try:
                ready = await self.wait_ready(camera_id, timeout)
            except BaseException:
                if newly:
                    await self._release(camera_id, reason)
                raise
            if not ready:
                if newly:
                    await self._release(camera_id, reason)
                raise SourceDidNotStart(
                    camera_id, "ffmpeg" if camera.kind is CameraKind.VIRTUAL else "camera", timeout
                )
            return self._holds[camera_id][reason]

    @async_to_deferred
    async def let_go(self, camera_id: str, reason: str) -> Optional[float]:
        """Stop holding for ``reason``; the stream goes back to on demand
        once nothing holds it.

        :returns: a Deferred firing, once the reader has exited if it was
            the last hold, with the time the hold began (``None`` if
            ``reason`` did not hold it).
        """
        async with locked(self.lock(camera_id)):
            return await self._release(camera_id, reason)

    def _hold(self, camera_id: str, reason: str) -> None:
        reasons = self._holds.setdefault(camera_id, {})
        if not reasons:
            self._holders.hold(camera_id)
        reasons[reason] = self._clock.seconds()

    async def _release(self, camera_id: str, reason: str) -> Optional[float]:
        reasons = self._holds.get(camera_id, {})
        began = reasons.pop(reason, None)
        if began is not None and not reasons:
            del self._holds[camera_id]
            await self._holders.release(camera_id)
        return began

    def _on_event(self, event: Event) -> None:
        if event.topic == "camera.disconnected" and event.device in self._holds:
            reasons = self._holds.pop(event.device)
            self.log.info("{camera_id} disconnected: no longer held for {reasons}",
                          camera_id=event.device, reasons=", ".join(sorted(reasons)))
            self._holders.release(event.device)

    # -- what MediaMTX says ----------------------------------------------

    async def wait_ready(self, camera_id: str, timeout: float) -> bool:
        """Wait until the source publishes and, while the stream is held,
        camservice's keep-alive reader is connected."""
        deadline = self._clock.seconds() + timeout
        while True:
            _path, figures = await self.figures(camera_id)
            if figures["ready"] and (figures["kept_alive"] or not self.holds(camera_id)):
                return True
            if self._clock.seconds() >= deadline:
                return False
            await task.deferLater(self._clock, self._poll, lambda: None)

    async def figures(self, camera_id: str) -> tuple[Optional[dict], dict]:
        """``(path, figures)`` of the camera's stream (see
        :func:`camservice.mediamtx.paths.path_figures`), readers counted
        without camservice's own (keep-alive readers, live-frame taps);
        ``kept_alive`` says whether one of those is connected.

        :raises MediaMTXError: MediaMTX cannot be asked.
        """
        path = await self._controller.path(camera_id)
        own = await self._controller.keepalive_readers(camera_id) if (path or {}).get("readers") else 0
        figures = path_figures(path, self._clock.seconds())
        figures["readers"] = max(0, figures["readers"] - own)
        figures["kept_alive"] = own > 0
        return path, figures

    async def camera_metrics(self, camera_id: str) -> Optional[dict]:
        """``{bytes_sent, readers, uptime}`` of the camera's stream, or
        ``None`` when MediaMTX cannot be asked."""
        try:
            _path, f = await self.figures(camera_id)
        except MediaMTXError:
            return None
        return {"bytes_sent": f["bytes_out"], "readers": f["readers"], "uptime": f["uptime"]}

    async def all_streams(self, visible: Callable[[str], bool] = lambda camera_id: True) -> list[dict]:
        """Every camera stream MediaMTX serves that ``visible`` lets
        through, by camera number: ``{name, source, ready, readers,
        bytes_sent}``; ``source`` is the kind of source MediaMTX reports
        (``rtspSession`` for camservice's own publishers, ``rtspSource``
        for a pulled network camera), or ``none`` while nothing publishes.

        :raises MediaMTXError: MediaMTX cannot be asked.
        """
        paths = await self._controller.all_paths()
        names = sorted((n for n in paths if OWNED_PATH.match(n) and visible(n)), key=camera_number)
        read = any((paths[name] or {}).get("readers") for name in names)
        own = await self._controller.keepalive_reader_counts() if read else {}
        now = self._clock.seconds()
        out = []
        for name in names:
            f = path_figures(paths[name], now)
            out.append({
                "name": name,
                "source": f["source"] or "none",
                "ready": f["ready"],
                "readers": max(0, f["readers"] - own.get(name, 0)),
                "bytes_sent": f["bytes_out"],
            })
        return out

    async def totals(self) -> dict:
        """For ``get_metrics``: ``{active_streams, total_streams,
        total_viewers}``, or the three as ``None`` with ``error`` when
        MediaMTX cannot be asked."""
        try:
            streams = await self.all_streams()
        except MediaMTXError as e:
            return {"active_streams": None, "total_streams": None, "total_viewers": None, "error": e.detail}
        return {
            "active_streams": sum(1 for s in streams if s["ready"]),
            "total_streams": len(streams),
            "total_viewers": sum(s["readers"] for s in streams),
        }
