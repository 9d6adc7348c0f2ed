"""The ``stall-watch`` service: restarts a source that stopped sending,
and knows which streams someone watches.

A known failure of FFmpeg under MediaMTX: the publisher stops sending
without exiting (stopped, or stuck in a driver); MediaMTX keeps the path
"ready" with flat byte counters and never restarts it. Every second this
service reads every path's inbound bytes; a ready path whose bytes have not
moved for ``media.stall_timeout`` seconds gets its source restarted: the
hung publisher is killed (for the sources camservice's command lines run)
and the path is closed and opened again, so the next reader starts a new
one at once. A recording across the stall continues: the path comes back
with its recording settings. Each restart is a ``system.health`` event
naming the camera.

The same look tells which cameras have viewers besides camservice's own
readers (:attr:`StallWatch.viewed`): the live-frame taps keep their latest
keyframe, so that a snapshot of a watched camera answers at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.cameras.model import CameraKind
from camservice.cameras.registry import CameraRegistry
from camservice.config.model import MediaConfig
from camservice.events import EventBus
from camservice.mediamtx.controller import Health, MediaMTXController
from camservice.mediamtx.errors import MediaMTXError
from camservice.mediamtx.paths import online_since, path_figures
from camservice.mediamtx.sources import OWNED_PATH
from camservice.metrics import Metrics

__all__ = ["StallWatch"]

#: sources whose publisher is a process camservice's command line runs
_PUBLISHED = (CameraKind.USB, CameraKind.VIRTUAL)


@dataclass
class _Seen:
    bytes_in: int
    since: float  # when bytes_in last moved
    online: Optional[float]  # the source's online time: a new source resets the watch


class StallWatch(service.Service):
    """Watches inbound bytes of every ready camera path.

    :param end_publishers: ``camera_id -> Deferred[list of pids]`` that
        kills the processes publishing the camera's stream.
    """

    log = Logger(namespace="camservice.media.stall")
    reloadable_keys = ("media.stall_timeout",)

    def __init__(
        self,
        config: MediaConfig,
        controller: MediaMTXController,
        registry: CameraRegistry,
        bus: EventBus,
        metrics: Metrics,
        clock,
        end_publishers: Callable[[str], defer.Deferred],
    ):
        self.config = config
        self._controller = controller
        self._registry = registry
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._end_publishers = end_publishers
        self._seen: dict[str, _Seen] = {}
        self._restarting: set[str] = set()
        #: cameras whose ready stream has readers besides camservice's own,
        #: as of the last look
        self.viewed: frozenset[str] = frozenset()
        self._loop: Optional[task.LoopingCall] = None

    @property
    def interval(self) -> float:
        """Seconds between checks: a quarter of the timeout, at most 1."""
        return min(1.0, self.config.stall_timeout / 4)

    def startService(self) -> None:
        super().startService()
        self._start_loop()

    def stopService(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._seen.clear()
        return super().stopService()

    def _start_loop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=False).addErrback(
            lambda f: self.log.failure("the stall watch stopped", failure=f)
        )

    def checkConfig(self, new) -> None:
        """Nothing to refuse beyond what the schema does."""

    def reconfigService(self, new) -> defer.Deferred:
        old, self.config = self.config, new.media
        if self.running and self.config.stall_timeout != old.stall_timeout:
            self._start_loop()
        return defer.succeed(None)

    @async_to_deferred
    async def check(self) -> None:
        """One look at every path; restarts those stalled."""
        if self._controller.health is not Health.UP:
            self._seen.clear()  # MediaMTX down or restarting: start afresh
            self.viewed = frozenset()
            return
        try:
            paths = await self._controller.all_paths()
            self.viewed = await self._viewed(paths)
        except MediaMTXError:
            return  # the controller reports MediaMTX's health
        now = self._clock.seconds()
        for name in [n for n in self._seen if n not in paths]:
            del self._seen[name]
        for name, path in paths.items():
            if not OWNED_PATH.match(name):
                continue
            figures = path_figures(path, now)
            if not figures["ready"]:
                self._seen.pop(name, None)
                continue
            online = online_since(path)
            seen = self._seen.get(name)
            if seen is None or seen.bytes_in != figures["bytes_in"] or seen.online != online:
                self._seen[name] = _Seen(figures["bytes_in"], now, online)
            elif now - seen.since >= self.config.stall_timeout and name not in self._restarting:
                self._restart(name, now - seen.since)

    async def _viewed(self, paths: dict) -> frozenset:
        read = {name: len(path.get("readers") or []) for name, path in paths.items()
                if OWNED_PATH.match(name) and path_figures(path, 0)["ready"] and path.get("readers")}
        if not read:
            return frozenset()
        own = await self._controller.keepalive_reader_counts()
        return frozenset(name for name, readers in read.items() if readers > own.get(name, 0))

    def _restart(self, camera_id: str, flat_for: float) -> None:
        self._restarting.add(camera_id)
        self._seen.pop(camera_id, None)
        d = self._restart_source(camera_id, flat_for)
        d.addErrback(lambda f: self.log.failure("restarting the stalled source of {camera_id} failed",
                                                failure=f, camera_id=camera_id))
        d.addBoth(lambda _: self._restarting.discard(camera_id))

    @async_to_deferred
    async def _restart_source(self, camera_id: str, flat_for: float) -> None:
        detail = f"the source sent nothing for {flat_for:.0f} s while ready; restarting it"
        self.log.warn("{camera_id}: {detail}", camera_id=camera_id, detail=detail)
        self._bus.publish("system.health", camera_id, component="stream", status="stalled", detail=detail)
        self._metrics.stream_restarts.inc()
        killed: list = []
        if camera_id in self._registry and self._registry.get(camera_id).kind in _PUBLISHED:
            killed = await self._end_publishers(camera_id)
        try:
            await self._controller.restart_path(camera_id)
        except MediaMTXError as e:
            self.log.warn("{camera_id}: the path could not be restarted yet: {detail}",
                          camera_id=camera_id, detail=e.detail)
            return
        self._bus.publish(
            "system.health", camera_id, component="stream", status="restarted",
            detail=f"source restarted after a stall ({len(killed)} hung publisher process(es) killed)",
        )
