"""What a node has published: retained topics sent only when they change,
and all of them sent again on every new broker session.

The broker may have lost retained messages (restarted without
persistence), and a session that broke may have lost queued ones, so each
(re)connection republishes the whole retained state; within a session a
payload equal to the last one sent on its topic is not sent again.

A topic cleared (its retained message removed) is forgotten once the
empty payload is sent: what a node keeps grows with its cameras now, not
with every camera it ever had. A clearing that could not be sent (no
session) is kept and sent on the next session, then forgotten.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["Coalescer", "Publisher"]

Send = Callable[[str, bytes, bool], bool]


class Publisher:
    """Retained state and events of one node.

    :param send: ``(topic, payload, retain) -> bool``: queue one message;
        ``False`` when there is no session (it is then sent on the next).
    :param counted: ``(kind) -> None`` per message sent (``kind`` is
        ``retained`` or ``event``).
    """

    def __init__(self, send: Send, counted: Callable[[str], None] = lambda kind: None):
        self._send = send
        self._counted = counted
        #: topic -> the payload it must hold (b"": to be cleared when
        #: next connected)
        self.retained: dict[str, bytes] = {}
        #: topic -> the payload sent in this session
        self._sent: dict[str, bytes] = {}

    def retain(self, topic: str, payload: bytes) -> bool:
        """Make ``topic`` hold ``payload``; ``True`` if it was sent now."""
        self.retained[topic] = payload
        if self._sent.get(topic) == payload:
            return False
        if self._send(topic, payload, True):
            self._sent[topic] = payload
            self._counted("retained")
            return True
        return False

    def clear(self, topic: str) -> bool:
        """Remove ``topic``'s retained message (an empty retained payload)
        and forget the topic; ``True`` if it was sent now (else it is sent
        on the next session)."""
        self._sent.pop(topic, None)
        if self._send(topic, b"", True):
            self.retained.pop(topic, None)
            self._counted("retained")
            return True
        self.retained[topic] = b""
        return False

    def current(self, topic: str):
        """The payload ``topic`` must hold, or ``None``."""
        return self.retained.get(topic)

    def event(self, topic: str, payload: bytes) -> bool:
        """Send a message that is not kept (dropped without a session)."""
        if self._send(topic, payload, False):
            self._counted("event")
            return True
        return False

    def connected(self) -> int:
        """A new session: send every retained topic again, in the order
        they were first set. Returns how many were sent."""
        self._sent.clear()
        sent = 0
        for topic, payload in list(self.retained.items()):
            if self._send(topic, payload, True):
                self._counted("retained")
                sent += 1
                if payload:
                    self._sent[topic] = payload
                else:
                    del self.retained[topic]
        return sent

    def disconnected(self) -> None:
        self._sent.clear()


class Coalescer:
    """Calls ``flush(key)`` once, ``delay`` seconds after the first of any
    number of :meth:`mark` calls for that key: a camera flapping within the
    delay is published once, in the state it ends in.

    :param clock: ``IReactorTime``.
    """

    def __init__(self, clock, delay: float, flush: Callable[[str], None]):
        self._clock = clock
        self.delay = delay
        self._flush = flush
        self._pending: dict = {}

    def mark(self, key: str) -> None:
        if key in self._pending:
            return
        if self.delay <= 0:
            self._flush(key)
            return
        self._pending[key] = self._clock.callLater(self.delay, self._fire, key)

    def _fire(self, key: str) -> None:
        self._pending.pop(key, None)
        self._flush(key)

    def pending(self) -> list[str]:
        return sorted(self._pending)

    def stop(self) -> None:
        """Forget what is pending (nothing is flushed)."""
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
