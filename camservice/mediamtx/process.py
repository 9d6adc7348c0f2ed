"""The ``mediamtx-process`` service: MediaMTX as a supervised child, run
from a config generated from camservice's (see
:class:`camservice.supervisor.Supervisor` for how it is supervised).
MediaMTX's own log levels are kept."""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger

from camservice.config.model import MediaMTXConfig
from camservice.errors import StartupError
from camservice.mediamtx.binary import find_mediamtx
from camservice.mediamtx.config_file import MediaAccess, write_mediamtx_config
from camservice.metrics import Metrics
from camservice.service import ComponentState
from camservice.supervisor import Supervisor, child_environment

__all__ = ["MediaMTXProcess"]

NAME = "mediamtx"
# "2026/11/25 18:11:00 WAR [RTSP] ..." or, for a fatal startup error,
# "ERR: ..." -> level
_LEVEL = re.compile(r"^(?:\S+ \S+ (DEB|INF|WAR|ERR) |(DEB|INF|WAR|ERR): )")
_LEVELS = {"DEB": "debug", "INF": "info", "WAR": "warn", "ERR": "error"}


class MediaMTXProcess(Supervisor):
    """Runs one MediaMTX.

    :param config: the ``mediamtx`` section.
    :param data_dir: where ``mediamtx/mediamtx.yml`` and recordings go.
    :param access: camservice's auth callback and the allowed browser
        origins, written into MediaMTX's config.
    :param on_started: called each time the child is (re)started.
    :param ledger: see :class:`camservice.supervisor.Supervisor`.
    :param jitter: added to each restart backoff.
    """

    threshold = 10

    def __init__(
        self,
        config: MediaMTXConfig,
        data_dir: Path,
        metrics: Metrics,
        reactor,
        access: MediaAccess,
        on_started: Optional[Callable[[], None]] = None,
        environ=os.environ,
        ledger=None,
        jitter=random.random,
    ):
        super().__init__(reactor, Logger(namespace="camservice.mediamtx.process"), ledger, jitter)
        self._config = config
        self._data_dir = Path(data_dir)
        self._metrics = metrics
        self._environ = environ
        self._access = access
        self._on_started = on_started
        self.minRestartDelay = config.restart_min_delay
        self.maxRestartDelay = config.restart_max_delay
        self.killTime = config.stop_timeout
        self.starts = 0
        self.binary: Optional[str] = None
        self.version: Optional[str] = None
        self.state = ComponentState.STOPPED
        self.error: Optional[str] = None

    def line_level(self, line: str, stream: str) -> str:
        match = _LEVEL.match(line)
        return _LEVELS[match.group(1) or match.group(2)] if match else super().line_level(line, stream)

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
            config_path = write_mediamtx_config(self._config, self._data_dir, self._access)
        except OSError as e:
            raise StartupError(f"cannot write the MediaMTX config in {self._data_dir}: {e.strerror}")
        self.addProcess(
            NAME, [self.binary, str(config_path)], env=child_environment(self._environ), cwd=str(config_path.parent)
        )

    def startService(self) -> None:
        self._prepare()
        self.state = ComponentState.STARTING
        self.logger.info("starting MediaMTX {version} from {binary}", version=self.version, binary=self.binary)
        super().startService()

    @property
    def pid(self) -> Optional[int]:
        return self.pid_of(NAME)

    def started(self, name: str) -> None:
        self.starts += 1
        if self.starts > 1:
            self._metrics.mediamtx_restarts.inc()
        self.state = ComponentState.RUNNING
        if self._on_started is not None:
            self._on_started()

    def exited(self, name: str, status, signal) -> None:
        if self.running:
            self.state = ComponentState.ERROR
            self.error = f"MediaMTX exited (status {status}, signal {signal}); restarting"

    def stopService(self) -> defer.Deferred:
        self.state = ComponentState.STOPPING

        def stopped(result):
            self.state = ComponentState.STOPPED
            return result

        return super().stopService().addBoth(stopped)
