"""A client's session: who it is, what it subscribed to, how fast it may go.

Transport-agnostic: the WebSocket protocol creates one per connection and
gives it a ``send`` function for notifications.
"""
from __future__ import annotations

import itertools
import uuid
from typing import Callable, Optional

from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.events import ADMIN_TOPICS, CAMERA_TOPICS, RECORDING_TOPICS, Event
from camservice.rpc.ratelimit import TokenBucket

__all__ = ["DEFAULT_TOPICS", "Session"]

#: What a connection receives before it calls ``subscribe_events``.
DEFAULT_TOPICS = CAMERA_TOPICS | RECORDING_TOPICS

_conn_ids = itertools.count(1)


def _discard(payload: bytes) -> None:
    """The ``send`` of a session whose connection is gone."""


class Session:
    """One connected client.

    :param clock: ``IReactorTime`` (POSIX seconds).
    :param send: called with encoded notification bytes.
    :param peer: the client's address, for logs.
    :param rate_limiter: the connection's token bucket, or ``None``.
    :param tls: whether the connection came over TLS.
    """

    __slots__ = (
        "conn_id",
        "session_id",
        "peer",
        "principal",
        "topics",
        "device_filter",
        "rate_limiter",
        "_clock",
        "_send",
        "_requests",
        "warned_deprecations",
        "connected_at",
        "last_activity",
        "expired",
        "tls",
    )

    def __init__(
        self,
        clock,
        send: Callable[[bytes], None],
        peer: str = "",
        rate_limiter: Optional[TokenBucket] = None,
        tls: bool = False,
    ):
        self.conn_id = f"c{next(_conn_ids)}"
        self.session_id = str(uuid.uuid4())
        self.peer = peer
        self.principal: Optional[Principal] = None
        self.topics: Optional[frozenset[str]] = None
        self.device_filter: Optional[str] = None
        self.rate_limiter = rate_limiter
        self._clock = clock
        self._send = send
        self._requests = itertools.count(1)
        self.warned_deprecations: set[str] = set()
        self.connected_at = clock.seconds()
        #: POSIX seconds of the last message from the client
        self.last_activity = self.connected_at
        self.tls = tls
        #: set when the principal's credential ran out, until the next login
        self.expired = False

    def log_in(self, principal: Principal) -> None:
        """Make ``principal`` this session's caller."""
        self.principal = principal
        self.expired = False

    def next_request_id(self) -> str:
        """A request id unique in this process: ``<conn_id>-<n>``."""
        return f"{self.conn_id}-{next(self._requests)}"

    def current_principal(self) -> Optional[Principal]:
        """The authenticated caller, or ``None`` (also once it expired)."""
        principal = self.principal
        if principal is not None and principal.expires_at is not None:
            if principal.expires_at <= self._clock.seconds():
                self.principal = None
                self.expired = True
                return None
        return principal

    @property
    def client_topics(self) -> frozenset[str]:
        """The topics this session receives now."""
        return DEFAULT_TOPICS if self.topics is None else self.topics

    def wants(self, event: Event) -> bool:
        """Whether ``event`` should be sent to this session."""
        principal = self.current_principal()
        if principal is None:
            return False
        if event.topic in ADMIN_TOPICS:
            # admins hear of these unless they chose topics without them
            return principal.role >= Role.admin and (self.topics is None or event.topic in self.topics)
        if event.topic not in self.client_topics:
            return False
        if event.device is None:
            return True
        if self.device_filter is not None and event.device != self.device_filter:
            return False
        return principal.may_use_camera(event.device)

    def send(self, payload: bytes) -> None:
        """Deliver an encoded notification."""
        self._send(payload)

    def disconnect(self) -> None:
        """The connection is gone: notifications are dropped from now on.

        Also lets go of the connection's ``send`` (a bound method of the
        protocol, which holds this session): without that reference cycle
        a closed connection is freed at once by reference counting instead
        of waiting for, and lengthening, a pass of the cycle collector.
        """
        self._send = _discard
