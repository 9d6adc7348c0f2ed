"""The session table: every open connection, who it is and how it proved
it, and the check that ends sessions whose credential no longer holds.

Once a second (``auth.session_check_interval``) each authenticated session
is checked: an expired JWT, API key or client certificate, or an API key
no longer in the keys file (``camservice-admin keys revoke``), ends the
session. Ending one sends the client a ``session_ended`` notification and
then a close frame with the code below.
"""
from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.principal import Principal
from camservice.codec import dumps
from camservice.rpc.session import Session
from camservice.timeutil import iso_timestamp

__all__ = [
    "CLOSE_AUTH_TIMEOUT",
    "CLOSE_CREDENTIAL_EXPIRED",
    "CLOSE_CREDENTIAL_REVOKED",
    "CLOSE_RATE_LIMITED",
    "CLOSE_SEND_BUFFER_FULL",
    "CLOSE_TERMINATED",
    "SessionTable",
    "session_ended_notification",
]

#: not authenticated within ``server.auth_timeout``
CLOSE_AUTH_TIMEOUT = 4001
#: the JWT, API key or client certificate expired
CLOSE_CREDENTIAL_EXPIRED = 4002
#: the API key was revoked
CLOSE_CREDENTIAL_REVOKED = 4003
#: an administrator called ``terminate_session``
CLOSE_TERMINATED = 4004
#: the client kept sending past the rate limit
CLOSE_RATE_LIMITED = 4005
#: the client does not read: ``server.max_send_buffer`` bytes wait for it
#: (WebSocket's "policy violation")
CLOSE_SEND_BUFFER_FULL = 1008

#: ``(session, code, reason)``: ends one session's connection
Ender = Callable[[Session, int, str], None]


def session_ended_notification(session: Session, code: int, reason: str, clock) -> bytes:
    """The ``session_ended`` notification sent just before the close frame."""
    return dumps(
        {
            "jsonrpc": "2.0",
            "method": "session_ended",
            "params": {
                "session_id": session.session_id,
                "close_code": code,
                "reason": reason,
                "timestamp": iso_timestamp(clock.seconds()),
            },
        }
    )


def _address(peer: str) -> tuple[Optional[str], Optional[int]]:
    """``tcp:127.0.0.1:5000`` / ``tcp6:[::1]:5000`` -> (host, port)."""
    if ":" not in peer:
        return (peer or None), None
    _proto, rest = peer.split(":", 1)
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    try:
        return host, int(port)
    except ValueError:
        return rest, None


class SessionTable:
    """The open sessions by id.

    :param clock: ``IReactorTime``.
    :param keys: the API keys store (re-read when the file changes).
    :param interval: seconds between credential checks.
    """

    def __init__(self, clock, keys: ApiKeyStore, interval: float = 1.0):
        self._clock = clock
        self._keys = keys
        self._interval = interval
        self._sessions: dict[str, tuple[Session, Ender]] = {}
        self._loop: Optional[LoopingCall] = None
        self.audit = Logger(namespace="camservice.audit")
        self.log = Logger(namespace="camservice.rpc.sessions")

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Begin the periodic credential checks."""
        if self._loop is None:
            self._loop = LoopingCall(self.check)
            self._loop.clock = self._clock
            self._loop.start(self._interval, now=False).addErrback(
                lambda f: self.log.failure("session checks stopped", failure=f)
            )

    def set_interval(self, interval: float) -> None:
        """Check every ``interval`` seconds from now on (a reload)."""
        if interval == self._interval:
            return
        self._interval = interval
        if self._loop is not None:
            self.stop()
            self.start()

    def stop(self) -> None:
        """Stop the checks (open sessions stay in the table)."""
        if self._loop is not None:
            loop, self._loop = self._loop, None
            if loop.running:
                loop.stop()

    # ------------------------------------------------------------- contents

    def add(self, session: Session, end: Ender) -> None:
        """Track ``session``; ``end(session, code, reason)`` closes it."""
        self._sessions[session.session_id] = (session, end)

    def remove(self, session: Session) -> None:
        self._sessions.pop(session.session_id, None)

    def get(self, session_id: str) -> Optional[Session]:
        entry = self._sessions.get(session_id)
        return entry[0] if entry is not None else None

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[Session]:
        """Every open session, oldest first."""
        return sorted((s for s, _ in self._sessions.values()), key=lambda s: (s.connected_at, s.conn_id))

    def describe(self, session: Session) -> dict:
        """One row of ``list_sessions``."""
        principal = session.principal
        host, port = _address(session.peer)
        row = {
            "session_id": session.session_id,
            "conn_id": session.conn_id,
            "address": host,
            "port": port,
            "tls": session.tls,
            "since": iso_timestamp(session.connected_at),
            "last_activity": iso_timestamp(session.last_activity),
            "authenticated": principal is not None,
            "user_id": None,
            "role": None,
            "credential": None,
            "expires_at": None,
        }
        if principal is not None:
            row.update(
                user_id=principal.user_id,
                role=principal.role.name,
                credential={"kind": principal.method, "id": principal.credential_id},
                expires_at=iso_timestamp(principal.expires_at) if principal.expires_at is not None else None,
            )
        return row

    # --------------------------------------------------------------- ending

    def end(self, session_id: str, code: int, reason: str, **audit_fields) -> bool:
        """End session ``session_id`` with close ``code``.

        :returns: ``False`` if there is no such session.
        """
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return False
        session, ender = entry
        principal = session.principal
        self.audit.info(
            "session {session_id} of {user_id} ended: {reason} (close code {code})",
            audit=True,
            outcome="session_ended",
            session_id=session_id,
            user_id=principal.user_id if principal is not None else None,
            credential_kind=principal.method if principal is not None else None,
            credential_id=principal.credential_id if principal is not None else None,
            reason=reason,
            code=code,
            peer=session.peer,
            conn_id=session.conn_id,
            **audit_fields,
        )
        ender(session, code, reason)
        return True

    def terminate(self, session_id: str, by: Principal, later: bool = False) -> bool:
        """An administrator ends a session (close code 4004).

        :param later: end it on the next reactor turn (the caller's own
            session: its reply goes out first).
        :returns: ``False`` if there is no such session.
        """
        if session_id not in self._sessions:
            return False
        if later:
            self._clock.callLater(0, self.end, session_id, CLOSE_TERMINATED, "terminated by an administrator", by=by.user_id)
        else:
            self.end(session_id, CLOSE_TERMINATED, "terminated by an administrator", by=by.user_id)
        return True

    def check(self) -> int:
        """End every session whose credential expired or was revoked.

        :returns: how many sessions were ended.
        """
        now = self._clock.seconds()
        try:
            keys = self._keys.expiries()
        except ValueError as e:
            # An unreadable keys file is not a revocation of every key;
            # new logins with keys fail until it is fixed.
            self.log.error("cannot check API keys of open sessions: {error}", error=str(e))
            keys = None
        doomed: list[tuple[str, int, str]] = []
        for session, _ in self._sessions.values():
            principal = session.principal
            if principal is None:
                if session.expired:
                    doomed.append((session.session_id, CLOSE_CREDENTIAL_EXPIRED, "credential expired"))
                continue
            if principal.expires_at is not None and principal.expires_at <= now:
                doomed.append((session.session_id, CLOSE_CREDENTIAL_EXPIRED, "credential expired"))
            elif principal.key_id is not None and keys is not None and principal.key_id not in keys:
                doomed.append((session.session_id, CLOSE_CREDENTIAL_REVOKED, "API key revoked"))
        for session_id, code, reason in doomed:
            self.end(session_id, code, reason)
        return len(doomed)
