"""The ``mediamtx`` service: keeps MediaMTX's paths equal to the camera
table and watches MediaMTX's health.

- Every Control API call goes through a circuit breaker; idempotent calls
  are retried with backoff first. While the breaker is open, calls fail
  fast (clients get -32050) and everything else keeps working.
- A health check runs every ``health_check_interval`` seconds. Each change
  of health (``down``, ``recovering``, ``up``) is published as a
  ``system.health`` event. Coming back up, and whenever MediaMTX restarted
  (its start time changed, or the managed child was restarted), the paths
  are reconciled before MediaMTX is reported ``up``.
- Reconciliation (on start, after every camera change, after a restart
  and every ``reconcile_interval`` seconds) compares desired paths with
  MediaMTX's and fixes drift both ways, never touching paths camservice
  does not own. A path MediaMTX refuses (400) puts that one camera in
  ERROR with MediaMTX's reason; the other paths are still applied and
  MediaMTX's health is not affected.
"""
from __future__ import annotations

import enum
from typing import Callable, Optional

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from camservice._defer import async_to_deferred
from camservice.cameras.model import CameraKind, CameraStatus
from camservice.cameras.registry import CameraRegistry
from camservice.config.model import MediaMTXConfig
from camservice.events import CAMERA_TOPICS, Event, EventBus
from camservice.mediamtx.breaker import BreakerState, CircuitBreaker
from camservice.mediamtx.client import IMediaMTXAPI
from camservice.mediamtx.holders import HOLD_QUERY
from camservice.mediamtx.errors import CircuitOpen, MediaMTXError, MediaMTXRejected, MediaMTXUnavailable, PathNotFound
from camservice.mediamtx.reconcile import plan_changes
from camservice.mediamtx.retry import with_retries
from camservice.mediamtx.sources import OWNED_PATH, path_conf
from camservice.metrics import Metrics
from camservice.security.redact import redact_text
from camservice.service import Component, ComponentState

__all__ = ["Health", "MediaMTXController"]

_STREAMABLE = (CameraKind.VIRTUAL, CameraKind.NETWORK, CameraKind.USB)
_BREAKER_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class Health(str, enum.Enum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"
    RECOVERING = "recovering"


class MediaMTXController(Component):
    """Drives MediaMTX through its Control API.

    :param config: the ``mediamtx`` section.
    :param api: the Control API client (:class:`IMediaMTXAPI`).
    :param registry: the camera table (the desired state).
    :param bus: for camera events in, ``system.health`` events out.
    :param reactor: ``IReactorTime``.
    :param jitter: retry jitter in seconds (tests pass ``lambda: 0``).
    :param publish_secret: ``camera_id -> secret`` its source presents to
        publish (``None``: sources present nothing).
    :param hold_query: the query string of camservice's keep-alive readers
        (:func:`camservice.mediamtx.holders.hold_query`).
    """

    log = Logger()

    def __init__(
        self,
        config: MediaMTXConfig,
        api: IMediaMTXAPI,
        registry: CameraRegistry,
        bus: EventBus,
        metrics: Metrics,
        reactor,
        jitter=None,
        publish_secret: Optional[Callable[[str], str]] = None,
        hold_query: str = HOLD_QUERY,
    ):
        super().__init__()
        self._publish_secret = publish_secret
        self._hold_query = hold_query
        #: camera id -> why MediaMTX refused its path (until it accepts one)
        self.refused: dict[str, str] = {}
        self.config = config
        self.api = api
        self._registry = registry
        self._bus = bus
        self._metrics = metrics
        self._clock = reactor
        self._jitter = jitter
        self.breaker = CircuitBreaker(
            reactor, config.breaker_failure_threshold, config.breaker_reset_timeout, self._breaker_changed
        )
        self.health = Health.UNKNOWN
        self.detail = "not checked yet"
        self.mediamtx_version: Optional[str] = None
        self._started_at: Optional[str] = None
        self._in_flight: set[defer.Deferred] = set()
        self._next_waiters: list[defer.Deferred] = []
        self._run: Optional[defer.Deferred] = None
        self._health_loop: Optional[task.LoopingCall] = None
        self._reconcile_loop: Optional[task.LoopingCall] = None
        self._unsubscribe = None
        self._recovering: Optional[defer.Deferred] = None
        self._starting_until: Optional[float] = None
        #: ``camera_id -> dict`` of fields added to the camera's path
        #: configuration (the recordings service's ``record*`` fields,
        #: which MediaMTX changes on a live path without closing it)
        self.path_extras: Optional[Callable[[str], dict]] = None

    # -- lifecycle -------------------------------------------------------

    def started_state(self) -> ComponentState:
        return ComponentState.RUNNING if self.health is Health.UP else self.state_for_health()

    def state_for_health(self) -> ComponentState:
        return {
            Health.UP: ComponentState.RUNNING,
            Health.DOWN: ComponentState.ERROR,
        }.get(self.health, ComponentState.STARTING)

    def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(self._on_event)
        self._health_loop = task.LoopingCall(self.check_health)
        self._health_loop.clock = self._clock
        self._health_loop.start(self.config.health_check_interval, now=False).addErrback(
            self._loop_died, "health check"
        )
        # MediaMTX is usually starting right now: probe it every 0.25 s
        # until it answers rather than waiting a whole interval
        self.mediamtx_started()
        self._reconcile_loop = task.LoopingCall(self._periodic_reconcile)
        self._reconcile_loop.clock = self._clock
        self._reconcile_loop.start(self.config.reconcile_interval, now=False).addErrback(
            self._loop_died, "reconciliation"
        )

    # -- reload ----------------------------------------------------------

    #: What a reload takes: the path settings and what the paths' sources
    #: are run with (``ffmpeg``, the RTSP port and host they publish to):
    #: each camera's path is reconciled to them at once; the loops'
    #: intervals, the retries, the breaker, the start grace period; the
    #: Control API's address (``host``, ``api_port``) and timeout, for the
    #: client's next call. In managed mode MediaMTX's own global settings
    #: are applied by :class:`~camservice.mediamtx.process.MediaMTXProcess`
    #: before this runs. In external mode MediaMTX's own settings are its
    #: own config's: they are named here only to be refused with that
    #: reason (:meth:`checkConfig`).
    reloadable_keys = tuple(f"mediamtx.{k}" for k in (
        "encoder", "on_demand_close_after", "source_start_timeout", "health_check_interval",
        "reconcile_interval", "retry_attempts", "retry_initial_delay", "retry_max_delay",
        "breaker_failure_threshold", "breaker_reset_timeout", "start_grace_period", "ffmpeg", "host", "api_port",
        "request_timeout", "binary", "restart_min_delay", "restart_max_delay", "stop_timeout",
        "media_host", "rtsp_port", "hls_port", "webrtc_port", "webrtc_udp_port", "protocols", "log_level",
    ))

    #: keys of MediaMTX's own config: a reload cannot change them in
    #: external mode
    EXTERNAL_OWN = ("media_host", "rtsp_port", "hls_port", "webrtc_port", "webrtc_udp_port", "protocols",
                    "log_level")

    def checkConfig(self, new) -> None:
        """In external mode, refuse changes to MediaMTX's own settings,
        and to the credentials it is reached with, by name."""
        from camservice.config.errors import ConfigError, ConfigProblem

        section, problems = new.mediamtx, []
        if section.mode == "external":
            for key in self.EXTERNAL_OWN:
                if getattr(section, key) != getattr(self.config, key):
                    problems.append(ConfigProblem(
                        f"mediamtx.{key}",
                        "MediaMTX runs in external mode: its own configuration sets this, not camservice's; "
                        "change both, then restart camservice",
                    ))
        if problems:
            raise ConfigError(problems)

    @async_to_deferred
    async def reconfigService(self, new) -> None:
        old, section = self.config, new.mediamtx
        if section == old:
            return
        self.config = section
        self.breaker.configure(section.breaker_failure_threshold, section.breaker_reset_timeout)
        if section.api_url != old.api_url and hasattr(self.api, "set_base_url"):
            self.api.set_base_url(section.api_url)
        if section.request_timeout != old.request_timeout and hasattr(self.api, "set_timeout"):
            self.api.set_timeout(section.request_timeout)
        if self.running:
            if section.health_check_interval != old.health_check_interval:
                self._health_loop = self._restart_loop(
                    self._health_loop, self.check_health, section.health_check_interval, "health check"
                )
            if section.reconcile_interval != old.reconcile_interval:
                self._reconcile_loop = self._restart_loop(
                    self._reconcile_loop, self._periodic_reconcile, section.reconcile_interval, "reconciliation"
                )
        paths_changed = any(getattr(old, key) != getattr(section, key) for key in (
            "encoder", "on_demand_close_after", "source_start_timeout", "ffmpeg", "rtsp_port", "media_host", "host",
        ))
        if paths_changed and self.running and self.health is Health.UP:
            try:
                await self.reconcile()
            except MediaMTXError as e:
                # the next periodic run brings the paths in line
                self.log.warn("MediaMTX paths not reconciled after a reload yet: {detail}", detail=e.detail)

    def _restart_loop(self, loop, call, interval: float, what: str) -> task.LoopingCall:
        if loop is not None and loop.running:
            loop.stop()
        loop = task.LoopingCall(call)
        loop.clock = self._clock
        loop.start(interval, now=False).addErrback(self._loop_died, what)
        return loop

    def _loop_died(self, failure, what: str) -> None:
        if not self.running and failure.check(defer.CancelledError):
            return  # cancelled by stop()
        self.log.failure("the MediaMTX {what} loop stopped", failure=failure, what=what)

    @async_to_deferred
    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for loop in (self._health_loop, self._reconcile_loop):
            if loop is not None and loop.running:
                loop.stop()
        for pending in [self._run, self._recovering, *self._in_flight]:
            if pending is not None and not pending.called:
                pending.cancel()
        await self.api.close()

    # -- calls -----------------------------------------------------------

    async def _call(self, make, retry: bool = True):
        """One Control API call under the breaker (and retries)."""

        async def once():
            if not self.running:
                raise CircuitOpen("camservice is stopping")
            return await self.breaker.call(make)

        try:
            if retry:
                result = await with_retries(
                    once,
                    self._clock,
                    self.config.retry_attempts,
                    self.config.retry_initial_delay,
                    self.config.retry_max_delay,
                    **({"jitter": self._jitter} if self._jitter is not None else {}),
                )
            else:
                result = await once()
        except CircuitOpen:
            self._metrics.mediamtx_calls.labels("fast_fail").inc()
            raise
        except MediaMTXRejected:
            self._metrics.mediamtx_calls.labels("rejected").inc()
            raise
        except MediaMTXUnavailable:
            self._metrics.mediamtx_calls.labels("unavailable").inc()
            raise
        self._metrics.mediamtx_calls.labels("ok").inc()
        return result

    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        self._metrics.mediamtx_breaker.set(_BREAKER_GAUGE[new])
        self.log.warn("MediaMTX circuit breaker {old} -> {new}", old=old.value, new=new.value)
        if new is BreakerState.OPEN:
            # Whichever call saw the last failure, MediaMTX is down now.
            self._set_health(Health.DOWN, f"MediaMTX failed {self.breaker.failures} times in a row")

    # -- health ----------------------------------------------------------

    def starting(self) -> bool:
        """Whether the managed child is within its start grace period and
        has not answered since it was (re)started: a probe that fails now
        says it is starting, not that it is down."""
        return (
            self.config.mode == "managed"
            and self._starting_until is not None
            and self._clock.seconds() < self._starting_until
        )

    @async_to_deferred
    async def check_health(self) -> None:
        """One health check (also the breaker's probe when half-open)."""
        try:
            if self.starting():
                # not under the breaker: a child that does not listen yet
                # is no failure of MediaMTX
                info = await self.api.info()
            else:
                info = await self._call(self.api.info, retry=False)
        except CircuitOpen as e:
            self._set_health(Health.DOWN, e.detail)
            return
        except MediaMTXError as e:
            if self.starting():
                self.detail = "MediaMTX is starting"
                self.log.debug("MediaMTX is starting: {detail}", detail=redact_text(e.detail))
                return
            if self.breaker.state is BreakerState.OPEN or self.health is not Health.UP:
                self._set_health(Health.DOWN, e.detail)
            return
        self._starting_until = None  # it answers: from now on a failure is one
        started = info.get("started")
        restarted = self._started_at is not None and started != self._started_at
        self._started_at = started
        self.mediamtx_version = info.get("version")
        if self.health is not Health.UP or restarted:
            if restarted:
                self.log.warn("MediaMTX restarted (started {started}); restoring paths", started=started)
            if self.config.mode == "external":
                await self._check_locked()
            await self._recover()

    async def _check_locked(self) -> None:
        """An external MediaMTX must not answer its Control API without
        credentials (anyone on the machine could then run commands through
        it): say so loudly if it does."""
        try:
            anonymous = await self._call(self.api.answers_anonymously, retry=False)
        except MediaMTXError:
            return  # unreachable: the health check will tell
        if anonymous:
            self.log.error(
                "MediaMTX's Control API at {url} answers requests without credentials: anyone on this "
                "machine can run commands through it. Give it conf/mediamtx-external.yml's authentication "
                "settings (authMethod: http to camservice's streams.auth_port, authHTTPExclude: [])",
                url=self.config.api_url, audit=True, outcome="unlocked",
            )

    async def _recover(self) -> None:
        self._set_health(Health.RECOVERING, "restoring paths")
        try:
            await self.reconcile()
        except MediaMTXError as e:
            self._set_health(Health.DOWN, e.detail)
            return
        self._set_health(Health.UP, f"MediaMTX {self.mediamtx_version} answers")

    def mediamtx_exited(self, detail: str) -> None:
        """The managed child exited: down at once, not at the next health
        check, so clients go read-only for the time of its restart."""
        if self.running:
            self._set_health(Health.DOWN, detail)

    def mediamtx_started(self) -> None:
        """The managed child was (re)started: probe it at once and keep
        probing every 0.25 s until it answers, rather than waiting for the
        next health check or the breaker's reset timeout. For
        ``start_grace_period`` seconds, or until it answers, a failed
        probe means it is starting (see :meth:`starting`). A restart that
        comes before MediaMTX ever answered does not extend the grace
        period: a child that keeps dying is down, not forever starting."""
        if self._starting_until is None:
            self._starting_until = self._clock.seconds() + self.config.start_grace_period
        if self._recovering is None or self._recovering.called:
            self._recovering = self._probe_until_up()
            self._recovering.addErrback(lambda f: f.trap(defer.CancelledError))

    @async_to_deferred
    async def _probe_until_up(self) -> None:
        deadline = self._clock.seconds() + max(self.config.source_start_timeout, 10)
        self._started_at = None
        if self.health is Health.UP:
            self._set_health(Health.RECOVERING, "MediaMTX was restarted")
        while self.running and self._clock.seconds() < deadline:
            self.breaker.probe_now()
            await self.check_health()
            if self.health is Health.UP:
                return
            await task.deferLater(self._clock, 0.25, lambda: None)

    def _set_health(self, health: Health, detail: str) -> None:
        detail = redact_text(detail)  # shown by /health/mediamtx and system.health
        self.detail = detail
        self._metrics.mediamtx_up.set(1 if health is Health.UP else 0)
        if health is self.health:
            return
        old, self.health = self.health, health
        if self.running:
            self.state = self.state_for_health()
            self.error = None if health is Health.UP else detail
        # an alarm only for bad news: down, or no longer up; coming up
        # (the first start, or back from down) is information
        bad = health is Health.DOWN or (health is not Health.UP and old is Health.UP)
        log = self.log.warn if bad else self.log.info
        log("MediaMTX is {health}: {detail}", health=health.value, detail=detail, previous=old.value)
        self._bus.publish(
            "system.health",
            component="mediamtx",
            status=health.value,
            previous=old.value,
            detail=detail,
            breaker=self.breaker.state.value,
        )

    # -- reconciliation --------------------------------------------------

    def desired_paths(self) -> dict[str, dict]:
        """One path per streamable camera that can be streamed (with
        :attr:`path_extras`, if set)."""
        secret = self._publish_secret or (lambda camera_id: None)
        extras = self.path_extras or (lambda camera_id: {})
        return {
            camera.id: {**path_conf(camera, self.config, secret(camera.id)), **extras(camera.id)}
            for camera in self._registry.cameras()
            if camera.kind in _STREAMABLE
            and (
                camera.status is CameraStatus.CONNECTED
                # a network or virtual source in ERROR may recover by
                # itself; a USB camera in ERROR has nothing to capture
                or (camera.status is CameraStatus.ERROR and camera.kind is not CameraKind.USB)
            )
        }

    def reconcile(self) -> defer.Deferred:
        """Bring MediaMTX in line with the camera table.

        A request made while a run is going on is served by the next run,
        which starts when the current one ends (one run serves every
        request made meanwhile), so each caller sees a run that began after
        its request.

        :returns: a Deferred firing with the list of changes made; fails
            with a :class:`MediaMTXError` if MediaMTX could not be reached.
        """
        waiter: defer.Deferred = defer.Deferred()
        self._next_waiters.append(waiter)
        if self._run is None or self._run.called:
            self._run = self._reconcile_runs()
        return waiter

    @async_to_deferred
    async def _reconcile_runs(self) -> None:
        while self._next_waiters:
            waiters, self._next_waiters = self._next_waiters, []
            if not self.running:
                for waiter in waiters:
                    waiter.errback(MediaMTXUnavailable("camservice is stopping"))
                continue
            try:
                changes = await self._reconcile_once()
            except Exception:
                failure = Failure()
                for waiter in waiters:
                    waiter.errback(failure)
            else:
                for waiter in waiters:
                    waiter.callback(changes)

    async def _reconcile_once(self) -> list:
        actual = await self._call(self.api.list_path_configs)
        desired = self.desired_paths()
        for name in [n for n in self.refused if n not in desired]:
            del self.refused[name]  # the camera went away or changed kind
        applied = []
        for change in plan_changes(desired, actual):
            try:
                await self._apply(change)
            except MediaMTXRejected as e:
                if e.status != 400 or change.action == "delete":
                    raise
                self._path_refused(change.name, e.detail)
                continue
            applied.append(change)
            if change.action != "delete":
                self._path_accepted(change.name)
        if applied:
            self.log.info(
                "reconciled MediaMTX paths: {changes}",
                changes=", ".join(f"{c.action} {c.name}" for c in applied),
            )
        return applied

    def _path_refused(self, camera_id: str, detail: str) -> None:
        """MediaMTX refused the camera's path: that camera is in ERROR."""
        reason = f"MediaMTX refused the camera's path: {detail}"
        if self.refused.get(camera_id) != reason:
            self.log.warn("MediaMTX refused the path of {camera_id}: {detail}", camera_id=camera_id, detail=detail)
        self.refused[camera_id] = reason
        if camera_id in self._registry:
            camera = self._registry.get(camera_id)
            if camera.status is not CameraStatus.ERROR or camera.error != reason:
                self._registry.update(camera_id, status=CameraStatus.ERROR, error=reason)

    def _path_accepted(self, camera_id: str) -> None:
        """A path MediaMTX refused before was accepted: the camera is back."""
        reason = self.refused.pop(camera_id, None)
        if reason is None or camera_id not in self._registry:
            return
        camera = self._registry.get(camera_id)
        if camera.status is CameraStatus.ERROR and camera.error == reason:
            self._registry.update(camera_id, status=CameraStatus.CONNECTED, error=None)

    async def _apply(self, change) -> None:
        try:
            if change.action == "add":
                await self._call(lambda: self.api.add_path_config(change.name, change.conf))
            elif change.action == "replace":
                await self._call(lambda: self.api.replace_path_config(change.name, change.conf))
            else:
                await self._call(lambda: self.api.delete_path_config(change.name))
        except PathNotFound:
            if change.action != "delete":
                raise
        self._metrics.reconciliations.labels(change.action).inc()

    def _periodic_reconcile(self) -> defer.Deferred:
        d = self.reconcile()
        d.addErrback(lambda f: f.trap(MediaMTXError, defer.CancelledError))
        return d

    def _on_event(self, event: Event) -> None:
        if event.topic not in CAMERA_TOPICS or not OWNED_PATH.match(event.device or ""):
            return
        if self.health is Health.UP:
            self._periodic_reconcile()

    # -- streams ---------------------------------------------------------

    def _tracked(self, coro) -> defer.Deferred:
        """Run a call for a client; ``stop`` cancels it if still pending."""
        d = defer.ensureDeferred(coro)
        if not d.called:
            self._in_flight.add(d)
            d.addBoth(lambda r: (self._in_flight.discard(d), r)[1])
        return d

    def path(self, camera_id: str) -> defer.Deferred:
        """MediaMTX's live view of the camera's path.

        :returns: a Deferred firing with the ``Path`` object, or ``None``
            if MediaMTX has no such path; fails with :class:`MediaMTXError`.
        """

        async def get():
            try:
                return await self._call(lambda: self.api.get_path(camera_id))
            except PathNotFound:
                return None

        return self._tracked(get())

    def keepalive_reader_counts(self) -> defer.Deferred:
        """How many of each path's readers are camservice's own (keep-alive
        readers and live-frame taps, found by their query string in
        MediaMTX's RTSP sessions).

        :returns: a Deferred firing with ``{path: count}`` (paths without
            any left out); fails with :class:`MediaMTXError`.
        """

        async def count():
            sessions = await self._call(self.api.list_rtsp_sessions)
            counts: dict[str, int] = {}
            for s in sessions.values():
                if s.get("state") == "read" and s.get("query") == self._hold_query:
                    counts[s.get("path")] = counts.get(s.get("path"), 0) + 1
            return counts

        return self._tracked(count())

    def keepalive_readers(self, camera_id: str) -> defer.Deferred:
        """How many of the path's readers are camservice's own; fails with
        :class:`MediaMTXError`."""
        return self.keepalive_reader_counts().addCallback(lambda counts: counts.get(camera_id, 0))

    def all_paths(self) -> defer.Deferred:
        """Every live path by name; fails with :class:`MediaMTXError`."""
        return self._tracked(self._call(self.api.list_paths))

    # -- restarting one path -----------------------------------------------

    @async_to_deferred
    async def restart_path(self, camera_id: str) -> None:
        """Close the camera's path and open it again: MediaMTX ends its
        source and readers, and the next reader (or a keep-alive reader)
        starts a new source at once. What it records comes back with it:
        the path is re-added from :meth:`desired_paths`.

        :raises MediaMTXError: MediaMTX cannot be asked.
        """
        try:
            await self._tracked(self._call(lambda: self.api.delete_path_config(camera_id)))
        except PathNotFound:
            pass
        self._metrics.reconciliations.labels("delete").inc()
        await self.reconcile()
