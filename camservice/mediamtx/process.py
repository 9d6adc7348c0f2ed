"""The ``mediamtx-process`` service: MediaMTX as a supervised child.

Built on ``twisted.runner.procmon.ProcessMonitor`` (restart with doubling
backoff after quick deaths, TERM then KILL on stop, output logged line by
line) and covering what it lacks: ``stopService`` waits until the child has
really exited (bounded by ``stop_timeout`` plus a margin), each exit is
logged with its status, restarts are counted, MediaMTX's own log levels
are kept, and the environment is passed explicitly.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor

from camservice.config.model import MediaMTXConfig
from camservice.errors import StartupError
from camservice.mediamtx.binary import find_mediamtx
from camservice.mediamtx.config_file import write_mediamtx_config
from camservice.metrics import Metrics
from camservice.service import ComponentState

__all__ = ["MediaMTXProcess"]

NAME = "mediamtx"
# "2026/11/25 18:11:00 WAR [RTSP] ..." -> level
_LEVEL = re.compile(r"^\S+ \S+ (DEB|INF|WAR|ERR) ")
_LEVELS = {"DEB": "debug", "INF": "info", "WAR": "warn", "ERR": "error"}
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


class _ChildLog:
    """Receives procmon's per-line ``log.info`` calls and re-emits each line
    at the level MediaMTX gave it."""

    def __init__(self, logger: Logger):
        self._logger = logger

    def info(self, fmt: str, **fields) -> None:
        line = fields.get("line", "")
        match = _LEVEL.match(line)
        level = _LEVELS.get(match.group(1), "info") if match else ("warn" if fields.get("stream") == "stderr" else "info")
        getattr(self._logger, level)("[mediamtx] {line}", line=line, stream=fields.get("stream"))


class MediaMTXProcess(ProcessMonitor):
    """Runs one MediaMTX with a config generated from camservice's.

    :param config: the ``mediamtx`` section.
    :param data_dir: where ``mediamtx/mediamtx.yml`` and recordings go.
    :param on_started: called each time the child is (re)started.
    """

    logger = Logger()
    threshold = 10

    def __init__(
        self,
        config: MediaMTXConfig,
        data_dir: Path,
        metrics: Metrics,
        reactor,
        on_started: Optional[Callable[[], None]] = None,
        environ=os.environ,
    ):
        super().__init__(reactor=reactor)
        self.log = _ChildLog(self.logger)
        self._config = config
        self._data_dir = Path(data_dir)
        self._metrics = metrics
        self._environ = environ
        self._on_started = on_started
        self._waiters: list[defer.Deferred] = []
        self.minRestartDelay = config.restart_min_delay
        self.maxRestartDelay = config.restart_max_delay
        self.killTime = config.stop_timeout
        self.starts = 0
        self.binary: Optional[str] = None
        self.version: Optional[str] = None
        self.state = ComponentState.STOPPED
        self.error: Optional[str] = None

    def privilegedStartService(self) -> None:
        # Before the reactor runs: a missing or unsupported binary, or an
        # unwritable data folder, stops startup with one clear line.
        super().privilegedStartService()
        self._prepare()

    def _prepare(self) -> None:
        if self.binary is not None:
            return
        self.binary, self.version = find_mediamtx(self._config.binary, self._environ)
        try:
            config_path = write_mediamtx_config(self._config, self._data_dir)
        except OSError as e:
            raise StartupError(f"cannot write the MediaMTX config in {self._data_dir}: {e.strerror}")
        env = {k: self._environ[k] for k in _ENV_KEEP if k in self._environ}
        self.addProcess(NAME, [self.binary, str(config_path)], env=env, cwd=str(config_path.parent))

    def startService(self) -> None:
        self._prepare()
        self.state = ComponentState.STARTING
        self.logger.info("starting MediaMTX {version} from {binary}", version=self.version, binary=self.binary)
        super().startService()

    def startProcess(self, name: str) -> None:
        super().startProcess(name)
        proto = self.protocols.get(name)
        if proto is None:
            return
        self.starts += 1
        if self.starts > 1:
            self._metrics.mediamtx_restarts.inc()
        self.state = ComponentState.RUNNING
        original = proto.processEnded

        def processEnded(reason) -> None:
            try:
                original(reason)
            finally:
                self._exited(reason)

        proto.processEnded = processEnded
        if self._on_started is not None:
            self._on_started()

    @property
    def pid(self) -> Optional[int]:
        proto = self.protocols.get(NAME)
        return proto.transport.pid if proto is not None and proto.transport is not None else None

    def _exited(self, reason) -> None:
        code = getattr(reason.value, "exitCode", None)
        signal = getattr(reason.value, "signal", None)
        if self.running:
            self.state = ComponentState.ERROR
            self.error = f"MediaMTX exited (status {code}, signal {signal}); restarting"
            self.logger.error(
                "MediaMTX exited (status {status}, signal {signal}); restarting with backoff",
                status=code,
                signal=signal,
            )
        else:
            self.logger.info("MediaMTX stopped (status {status}, signal {signal})", status=code, signal=signal)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def stopService(self) -> defer.Deferred:
        self.state = ComponentState.STOPPING
        running = NAME in self.protocols
        d = defer.Deferred()
        if running:
            self._waiters.append(d)
        super().stopService()
        if not running:
            d.callback(None)
        # procmon sends KILL after killTime; allow a little more for the reap.
        d.addTimeout(self.killTime + 5, self._reactor)

        def stopped(_):
            self.state = ComponentState.STOPPED

        return d.addCallback(stopped)
