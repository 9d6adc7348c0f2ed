"""The ``storage`` service: how full the disk holding the media folders
is, and whether anything more may be written to it.

Three states, from ``media.storage``:

- ``ok``;
- ``low``: used space at or beyond ``warn_percent`` (``get_storage_info``
  says ``low_space_warning: true``);
- ``critical``: used space at or beyond ``block_percent``, or less than
  ``min_free_mb`` free. Producers call :meth:`StorageMonitor.check_writable`
  before writing and are refused with :class:`StorageCritical`; a running
  recording is stopped by whoever owns it on the ``system.health`` event.

A check runs every ``check_interval`` seconds (``os.statvfs`` in a
thread); each change of state is published on the event bus as
``system.health`` with ``component: "storage"``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger, LogLevel

from camservice._defer import async_to_deferred
from camservice.config.model import MediaConfig, StorageConfig
from camservice.events import EventBus
from camservice.media.errors import StorageCritical
from camservice.media.files import RECORDINGS, SNAPSHOTS, MediaFiles

__all__ = ["CRITICAL", "LOW", "OK", "StorageMonitor", "Usage", "measure", "state_of"]

OK, LOW, CRITICAL = "ok", "low", "critical"
_MB = 1024 * 1024


@dataclass(frozen=True)
class Usage:
    """Figures of the filesystem(s) holding the media folders, in bytes
    (summed when the two folders are on different filesystems).

    :ivar percent: used / (used + available) * 100, as ``df`` counts it
        (space reserved for root is neither).
    """

    total: int
    used: int
    available: int

    @property
    def percent(self) -> float:
        usable = self.used + self.available
        return 100.0 * self.used / usable if usable else 100.0


def _existing(path: Path) -> Path:
    """``path``, or its nearest existing parent (a folder not created yet
    lives on its parent's filesystem)."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def measure(folders: tuple[Path, ...]) -> Usage:
    """statvfs of the filesystems holding ``folders`` (blocking: run it
    in a thread)."""
    seen = set()
    total = used = available = 0
    for folder in folders:
        where = _existing(folder)
        device = os.stat(where).st_dev
        if device in seen:
            continue
        seen.add(device)
        st = os.statvfs(where)
        total += st.f_blocks * st.f_frsize
        used += (st.f_blocks - st.f_bfree) * st.f_frsize
        available += st.f_bavail * st.f_frsize
    return Usage(total, used, available)


def state_of(usage: Usage, config: StorageConfig) -> str:
    """``ok``, ``low`` or ``critical`` for ``usage`` under ``config``'s
    thresholds."""
    if usage.percent >= config.block_percent or usage.available < config.min_free_mb * _MB:
        return CRITICAL
    if usage.percent >= config.warn_percent:
        return LOW
    return OK


def describe(usage: Usage) -> str:
    """A short account of ``usage`` for clients and the log."""
    return f"{usage.percent:.1f}% used, {usage.available // _MB} MB free"


class StorageMonitor(service.Service):
    """Watches the media filesystem.

    :ivar state: ``ok``, ``low`` or ``critical`` as of the last check
        (``ok`` before the first).
    :ivar usage: the last :class:`Usage` measured, or ``None``.
    :param config: the ``media`` section (folders and ``storage``).
    :param files: the file index (recordings and snapshots sizes).
    :param bus: where ``system.health`` events go.
    :param clock: ``IReactorTime`` for the checks.
    :param run_blocking: runs ``statvfs`` off the reactor thread.
    """

    log = Logger(namespace="camservice.media.storage")

    #: reloadable: thresholds and the check interval
    reloadable_keys = ("media.storage",)

    def __init__(
        self,
        config: MediaConfig,
        files: MediaFiles,
        bus: EventBus,
        clock,
        run_blocking: Callable = threads.deferToThread,
    ):
        self._folders = (Path(config.recordings_dir), Path(config.snapshots_dir))
        self.config = config.storage
        self._files = files
        self._bus = bus
        self._clock = clock
        self._run_blocking = run_blocking
        self.state = OK
        self.usage: Optional[Usage] = None
        self._loop: Optional[task.LoopingCall] = None

    @property
    def critical(self) -> bool:
        """Whether the last check found the disk at or beyond the block
        threshold."""
        return self.state == CRITICAL

    # -- life ------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._start_loop()

    def stopService(self):
        super().stopService()
        self._stop_loop()

    def _start_loop(self) -> None:
        self._loop = task.LoopingCall(self._check_logged)
        self._loop.clock = self._clock
        self._loop.start(self.config.check_interval, now=True).addErrback(
            lambda f: self.log.failure("the storage checks stopped", failure=f)
        )

    def _stop_loop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    # -- checks ----------------------------------------------------------

    @async_to_deferred
    async def check(self) -> Usage:
        """Measure now, update :attr:`state` and publish a change.

        :returns: a Deferred firing with the :class:`Usage`; failing with
            ``OSError`` if the filesystem cannot be asked.
        """
        usage = await self._run_blocking(measure, self._folders)
        self.usage = usage
        self._set_state(state_of(usage, self.config), usage)
        return usage

    @async_to_deferred
    async def check_writable(self) -> None:
        """Producers call this before writing a new file.

        :returns: a Deferred firing with ``None`` when there is room.
        :raises StorageCritical: at or beyond the block threshold (the
            figures in ``detail``).
        """
        usage = await self.check()
        if self.state == CRITICAL:
            raise StorageCritical(describe(usage))

    @async_to_deferred
    async def info(self) -> dict:
        """``get_storage_info``'s result, measured now."""
        usage = await self.check()
        return {
            "total_space": usage.total,
            "used_space": usage.used,
            "available_space": usage.available,
            "usage_percentage": round(usage.percent, 1),
            "recordings_size": self._files.total_size(RECORDINGS),
            "snapshots_size": self._files.total_size(SNAPSHOTS),
            "low_space_warning": self.state != OK,
        }

    def _check_logged(self) -> defer.Deferred:
        d = self.check()
        d.addErrback(lambda f: self.log.failure("could not measure the media filesystem", failure=f,
                                                level=LogLevel.error))
        return d

    def _set_state(self, state: str, usage: Usage) -> None:
        if state == self.state:
            return
        old, self.state = self.state, state
        detail = describe(usage)
        log = self.log.info if state == OK else (self.log.critical if state == CRITICAL else self.log.warn)
        log("media storage is {status}: {detail}", status=state, previous=old, detail=detail)
        self._bus.publish(
            "system.health",
            component="storage",
            status=state,
            previous=old,
            detail=detail,
            usage_percentage=round(usage.percent, 1),
            available_space=usage.available,
        )

    # -- reload ----------------------------------------------------------

    def checkConfig(self, new) -> None:
        """Nothing to refuse: the schema bounds every threshold."""

    def reconfigService(self, new) -> defer.Deferred:
        """Take new thresholds (applied at the next check, which runs at
        once) and a new check interval."""
        section = new.media.storage
        if section == self.config:
            return defer.succeed(None)
        self.config = section
        if self.running:
            self._stop_loop()
            self._start_loop()
        return defer.succeed(None)
