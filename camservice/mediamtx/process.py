"""The ``mediamtx-process`` service: MediaMTX as a supervised child, run
from a config generated from camservice's (see
:class:`camservice.supervisor.Supervisor` for how it is supervised).
MediaMTX's own log levels are kept.

A reload changes MediaMTX's global settings in one of two ways:

- **live**, through the Control API (``PATCH /v3/config/global/patch``):
  ports, addresses, protocols, the log level, the auth callback's address
  and the allowed origins. MediaMTX v1.20.1 applies a patch in its own
  process (``Core.reloadConf``): it closes and reopens only the servers a
  changed field concerns (a new RTSP address, log level or auth address
  also recreates the path manager, so paths restart from the
  configurations MediaMTX keeps; a new HLS or WebRTC port restarts that
  server alone; new origins restart HLS and WebRTC). Camservice's own
  connections stay up.
- **restart**, for a new ``binary``: the child is stopped, the generated
  file rewritten and the new program started; the controller restores
  the paths by its reconciliation once it answers.

The file is never rewritten while MediaMTX runs: MediaMTX watches it and
would reload it, paths included (and the file has none). After a live
change it is rewritten before the child's next start.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import defer, task, threads
from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.config.errors import ConfigError, ConfigProblem
from camservice.config.model import MediaMTXConfig
from camservice.errors import StartupError
from camservice.mediamtx.binary import find_mediamtx
from camservice.mediamtx.config_file import MediaAccess, media_origins, mediamtx_settings, write_mediamtx_config
from camservice.mediamtx.errors import MediaMTXError, MediaMTXRejected
from camservice.metrics import Metrics
from camservice.service import ComponentState
from camservice.supervisor import Supervisor, child_environment

__all__ = ["GLOBAL_KEYS", "MediaMTXProcess", "MediaMTXReloadFailed"]

#: ``mediamtx`` keys that shape MediaMTX's own global settings
GLOBAL_KEYS = ("host", "api_port", "media_host", "rtsp_port", "hls_port", "webrtc_port", "webrtc_udp_port",
               "protocols", "log_level")


class MediaMTXReloadFailed(Exception):
    """MediaMTX did not take new global settings; ``str()`` says why."""

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
    :param on_exited: called with the reason each time the child exits
        while the service runs (before its restart).
    :param ledger: see :class:`camservice.supervisor.Supervisor`.
    :param jitter: added to each restart backoff.
    :param api: the Control API client (reloads patch MediaMTX through it
        and point it at a moved API).
    :param run_blocking: ``(f, *args) -> Deferred`` for file writes and
        ``mediamtx --version`` during reloads (default: the reactor's
        thread pool).
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
        on_exited: Optional[Callable[[str], None]] = None,
        ledger=None,
        jitter=random.random,
        api=None,
        run_blocking: Optional[Callable] = None,
    ):
        super().__init__(reactor, Logger(namespace="camservice.mediamtx.process"), ledger, jitter)
        self._api = api
        self._run_blocking = run_blocking or (
            lambda f, *a: threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *a)
        )
        #: the global settings MediaMTX runs with, and those in its file
        self.settings: Optional[dict] = None
        self._file_settings: Optional[dict] = None
        self._config = config
        self._data_dir = Path(data_dir)
        self._metrics = metrics
        self._environ = environ
        self._access = access
        self._on_started = on_started
        self._on_exited = on_exited
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
        self.settings = self._file_settings = self._settings_for(self._config, self._access)
        self._add(config_path)

    def _add(self, config_path: Path) -> None:
        self.addProcess(
            NAME, [self.binary, str(config_path)], env=child_environment(self._environ), cwd=str(config_path.parent)
        )

    def _settings_for(self, config: MediaMTXConfig, access: MediaAccess) -> dict:
        return mediamtx_settings(config, self._data_dir / "recordings", access)

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
            if self._on_exited is not None:
                self._on_exited(self.error)
            if NAME in self and self.settings != self._file_settings and not self._patching:
                # settings patched in live: the restart reads them from the file
                self.removeProcess(NAME)
                self._rewrite_and_add(self._config, self._access).addErrback(
                    lambda f: self.logger.failure("cannot restart MediaMTX with its current settings", failure=f)
                )

    @async_to_deferred
    async def _rewrite_and_add(self, config: MediaMTXConfig, access: MediaAccess) -> None:
        settings = self._settings_for(config, access)
        path = await self._run_blocking(write_mediamtx_config, config, self._data_dir, access)
        self._file_settings = settings
        if self.running and NAME not in self:
            self._add(path)

    # -- reload ----------------------------------------------------------

    #: What a reload takes (see the module docstring for how): MediaMTX's
    #: addresses, ports, protocols and log level, the auth callback's port
    #: and the allowed origins (live), the binary (restart), and the
    #: supervision's restart delays and stop timeout (for the next
    #: restart or stop).
    reloadable_keys = tuple(f"mediamtx.{k}" for k in GLOBAL_KEYS + (
        "binary", "restart_min_delay", "restart_max_delay", "stop_timeout",
    )) + ("streams.auth_port", "streams.allowed_origins")

    _patching = False

    def checkConfig(self, new) -> None:
        """Refuse settings MediaMTX would refuse to listen with."""
        m = new.mediamtx
        ports = {"api_port": m.api_port, "rtsp_port": m.rtsp_port}
        if "hls" in m.protocols:
            ports["hls_port"] = m.hls_port
        if "webrtc" in m.protocols:
            ports["webrtc_port"] = m.webrtc_port
        seen: dict[int, str] = {}
        problems = []
        for key, port in ports.items():
            if port in seen:
                problems.append(ConfigProblem(f"mediamtx.{key}", f"is the same port as mediamtx.{seen[port]}"))
            seen.setdefault(port, key)
        if problems:
            raise ConfigError(problems)

    @async_to_deferred
    async def reconfigService(self, new) -> None:
        from camservice.streamauth.service import auth_url

        section = new.mediamtx
        access = MediaAccess(auth_url(new.streams.auth_port), media_origins(new.server, new.streams))
        wanted = self._settings_for(section, access)
        if self.binary is None or self.settings is None:  # not prepared yet: it starts with these
            self._config, self._access = section, access
            return
        self.minRestartDelay = section.restart_min_delay
        self.maxRestartDelay = section.restart_max_delay
        self.killTime = section.stop_timeout
        if section.binary != self._config.binary:
            await self._restart_with(section, access)
        elif wanted != self.settings and self.pid is None:
            # between two runs: the next start reads the new file
            self.settings = wanted
            await self._rewrite_and_add(section, access)
        elif wanted != self.settings:
            await self._patch(wanted, section)
        elif self._api is not None and hasattr(self._api, "set_base_url"):
            self._api.set_base_url(section.api_url)  # a rollback finds it where it is
        self._config, self._access = section, access

    async def _restart_with(self, section: MediaMTXConfig, access: MediaAccess) -> None:
        try:
            binary, version = await self._run_blocking(find_mediamtx, section.binary, self._environ)
        except StartupError as e:
            raise MediaMTXReloadFailed(str(e))
        self.logger.info("restarting MediaMTX: {binary} ({version}) replaces {old}",
                         binary=binary, version=version, old=self.binary)
        waiting = self.wait_stopped(NAME)
        self.removeProcess(NAME)
        await waiting
        self.binary, self.version = binary, version
        if self._api is not None and hasattr(self._api, "set_base_url"):
            self._api.set_base_url(section.api_url)
        self.settings = self._settings_for(section, access)
        await self._rewrite_and_add(section, access)

    async def _patch(self, wanted: dict, section: MediaMTXConfig) -> None:
        if self._api is None:
            raise MediaMTXReloadFailed("no Control API client to apply MediaMTX's new settings with")
        changes = {key: value for key, value in wanted.items() if self.settings.get(key) != value}
        moves = "apiAddress" in changes
        starts, pid = self.starts, self.pid
        self._patching = True
        try:
            self._api.set_base_url(self._config.api_url)
            try:
                await self._api.patch_global(changes)
            except MediaMTXRejected as e:
                raise MediaMTXReloadFailed(f"MediaMTX refused the new settings: {e.detail}")
            except MediaMTXError as e:
                if not moves:  # a moving API may close before its answer is sent
                    raise MediaMTXReloadFailed(f"MediaMTX did not take the new settings: {e.detail}")
            self._api.set_base_url(section.api_url)
            await self._applied(starts, pid, section)
        except BaseException:
            self._api.set_base_url(self._config.api_url)
            raise
        finally:
            self._patching = False
        self.settings = wanted
        self.logger.info("MediaMTX applied new settings: {changed}", changed=",".join(sorted(changes)))

    async def _applied(self, starts: int, pid, section: MediaMTXConfig) -> None:
        """Wait until MediaMTX has finished applying a patch.

        It answers a patch before applying it, and exits if applying
        fails (a port taken): an empty patch waits in the same queue, so
        its answer means the change is done; the same child must still
        run afterwards."""
        deadline = self._reactor.seconds() + max(section.start_grace_period, section.request_timeout)
        last = "no answer"
        while True:
            if self.starts != starts or self.pid != pid or self.pid is None:
                raise MediaMTXReloadFailed(
                    "MediaMTX exited applying the new settings (a port taken?); it restarts with the previous ones"
                )
            try:
                await self._api.patch_global({})
                if self.starts == starts and self.pid == pid:
                    return
            except MediaMTXError as e:
                last = e.detail
            if self._reactor.seconds() >= deadline:
                raise MediaMTXReloadFailed(f"MediaMTX did not confirm the new settings in time: {last}")
            await task.deferLater(self._reactor, 0.2, lambda: None)

    def stopService(self) -> defer.Deferred:
        self.state = ComponentState.STOPPING

        def stopped(result):
            self.state = ComponentState.STOPPED
            return result

        return super().stopService().addBoth(stopped)
