"""Audit events: authentication successes and failures, denials, and
every call that changes state.

They go to their own logger namespace, ``camservice.audit``, with
``audit=True`` and the fields ``who`` (user id, or ``None``), ``peer``
(from where), ``what`` (the method or action) and ``outcome``
(``success``, ``failure``, ``denied`` or ``error``), so they can be shipped
apart from the rest of the log. Tokens and keys are never logged, and
URLs only redacted.

A client that fails again and again must not flood the log: per client
address and outcome, the first event of an interval is logged in full and
the rest are counted, then reported in one summary line when the
interval ends (``summary=True``, ``count``). Successful state changes are
always logged one by one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from twisted.application import service
from twisted.logger import Logger

from camservice.auth.principal import Principal
from camservice.metrics import Metrics
from camservice.rpc.session import Session
from camservice.security.redact import redact_text

__all__ = ["Audit", "client_address"]

#: seconds over which repeated events of one client are summarised
SUMMARY_INTERVAL = 60.0
_MAX_WINDOWS = 4096


def client_address(peer: str) -> str:
    """The address part of a peer (``tcp:127.0.0.1:5000`` -> ``127.0.0.1``)."""
    kind, _, rest = peer.partition(":")
    if not rest:
        return peer
    host, _, port = rest.rpartition(":")
    return host if host and port.isdigit() else peer


@dataclass
class _Window:
    ends: float
    count: int = 0
    whats: Optional[set] = None
    timer: Any = None


class Audit(service.Service):
    """Writes audit events and counts failures in the metrics.

    As a service (``audit``), it writes the pending summaries when it
    stops.

    :param clock: ``IReactorTime`` for summary intervals; ``None`` logs
        every event (nothing is summarised).
    :param interval: seconds of one summary interval.
    """

    def __init__(self, metrics: Metrics, clock=None, interval: float = SUMMARY_INTERVAL):
        self._metrics = metrics
        self._clock = clock
        self._interval = interval
        self._windows: dict[tuple, _Window] = {}
        # An instance attribute: a class-level Logger would take the class's
        # own name as its namespace.
        self.log = Logger(namespace="camservice.audit")

    # -- the events --------------------------------------------------------

    def success(self, session: Session, request_id: str, principal: Principal, method: str = "authenticate") -> None:
        """A caller authenticated (``authenticate``, or a per-call token)."""
        self._emit(
            (session.peer, "success", principal.user_id),
            "info",
            "authenticated {user_id} as {role} by {auth_method}",
            who=principal.user_id,
            what=method,
            outcome="success",
            user_id=principal.user_id,
            role=principal.role.name,
            auth_method=principal.method,
            method=method,
            peer=session.peer,
            conn_id=session.conn_id,
            request_id=request_id,
        )

    def failure(self, session: Session, request_id: str, method: str, reason: str) -> None:
        """Credentials were missing, wrong or expired."""
        self._metrics.auth_failures.labels("authentication").inc()
        self._emit(
            (session.peer, "failure"),
            "warn",
            "authentication failed for {method}: {reason}",
            who=None,
            what=method,
            outcome="failure",
            method=method,
            reason=reason,
            peer=session.peer,
            conn_id=session.conn_id,
            request_id=request_id,
        )

    def denied(
        self,
        session: Session,
        request_id: str,
        method: str,
        principal: Principal,
        required_role: Optional[str],
        camera: Optional[str] = None,
    ) -> None:
        """An authenticated caller asked for more than its role or camera
        allow list grants."""
        self._metrics.auth_failures.labels("denied").inc()
        self._emit(
            (session.peer, "denied"),
            "warn",
            "denied {method} to {user_id} (role {have_role}, needs {required_role}, camera {camera})",
            who=principal.user_id,
            what=method,
            outcome="denied",
            method=method,
            user_id=principal.user_id,
            have_role=principal.role.name,
            required_role=required_role,
            camera=camera,
            peer=session.peer,
            conn_id=session.conn_id,
            request_id=request_id,
        )

    def action(
        self,
        session: Session,
        request_id: str,
        method: str,
        principal: Optional[Principal],
        params: Mapping[str, Any],
        code: Optional[int] = None,
        reason: Optional[str] = None,
    ) -> None:
        """A call that changes state ran: ``code`` ``None`` when it
        succeeded, else the JSON-RPC error code it was answered with."""
        fields = dict(
            who=principal.user_id if principal is not None else None,
            what=method,
            method=method,
            params={k: _safe(v) for k, v in params.items()},
            peer=session.peer,
            conn_id=session.conn_id,
            request_id=request_id,
        )
        if code is None:
            self.log.info("{who} called {method} {params}", audit=True, outcome="success", **fields)
            return
        self._emit(
            (session.peer, "error"),
            "warn",
            "{who} called {method} {params}: error {code} ({reason})",
            outcome="error",
            code=code,
            reason=reason,
            **fields,
        )

    def record(
        self,
        what: str,
        outcome: str,
        peer: str = "",
        who: Optional[str] = None,
        message: str = "{what} by {who} from {peer}: {outcome}",
        **fields: Any,
    ) -> None:
        """Any other audited event (a refused connection or media read, a
        session ended, a configuration change). Failures are summarised per
        ``peer``, ``what`` and ``reason``: the first of each kind in an
        interval is logged in full, the rest counted.

        :param message: the log format; it may name any of the fields.
        """
        fields.update(who=who, what=what, outcome=outcome, peer=peer)
        if outcome == "success":
            self.log.info(message, audit=True, **fields)
        else:
            self._emit((peer, outcome, what, fields.get("reason")), "warn", message, **fields)

    # -- summaries -----------------------------------------------------------

    def _emit(self, key: tuple, level: str, fmt: str, **fields: Any) -> None:
        log: Callable = getattr(self.log, level)
        if self._clock is None:
            log(fmt, audit=True, **fields)
            return
        # one window per client address, not per connection: a flood of
        # new connections counts as one client
        key = (client_address(key[0]),) + key[1:]
        now = self._clock.seconds()
        window = self._windows.get(key)
        if window is None or now >= window.ends:
            if len(self._windows) >= _MAX_WINDOWS:
                self._prune(now)
            self._windows[key] = _Window(now + self._interval)
            log(fmt, audit=True, **fields)
            return
        window.count += 1
        if window.whats is None:
            window.whats = set()
        if len(window.whats) < 16:
            window.whats.add(fields.get("what"))
        if window.timer is None:
            window.timer = self._clock.callLater(window.ends - now, self._flush, key)

    def _flush(self, key: tuple) -> None:
        window = self._windows.pop(key)
        window.timer = None
        self.log.warn(
            "{count} more {outcome} events from {peer} in {interval} s ({whats})",
            audit=True,
            summary=True,
            count=window.count,
            outcome=key[1],
            peer=key[0],
            who=None,
            what=",".join(sorted(str(w) for w in window.whats or ())),
            whats=sorted(str(w) for w in window.whats or ()),
            interval=self._interval,
        )

    def _prune(self, now: float) -> None:
        for key, window in list(self._windows.items()):
            if window.timer is None and now >= window.ends:
                del self._windows[key]

    def stopService(self):
        service.Service.stopService(self)
        self.stop()

    def stop(self) -> None:
        """Log every pending summary now and cancel its timer (on
        shutdown)."""
        for key, window in list(self._windows.items()):
            if window.timer is not None:
                window.timer.cancel()
                self._flush(key)
        self._windows.clear()


def _safe(value: Any) -> Any:
    """A param value fit for the log: URLs redacted, long text cut."""
    if isinstance(value, str):
        value = redact_text(value)
        return value if len(value) <= 256 else value[:253] + "..."
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact_text(repr(value))[:256]
