"""The last error and critical log events, kept in memory for
``get_recent_errors`` and ``camservice-admin diagnose``."""
from __future__ import annotations

import collections
from typing import Optional

from twisted.application import service
from twisted.logger import ILogObserver, LogLevel, LogPublisher, globalLogPublisher
from zope.interface import implementer

from camservice.logs import event_as_record
from camservice.security.redact import redact_text

__all__ = ["RecentErrors"]

#: Characters of a traceback kept per event.
MAX_TRACEBACK = 4000


@implementer(ILogObserver)
class RecentErrors(service.Service):
    """The ``recent-errors`` child: a ring of the last ``size`` events at
    level error or above, observed on the global log publisher while it
    runs (whatever twistd's own observer filters out).

    :param size: events kept (``logging.recent_errors``).
    :param publisher: where to observe (default: the global publisher).
    """

    def __init__(self, size: int, publisher: Optional[LogPublisher] = None):
        self._events: collections.deque = collections.deque(maxlen=size)
        self._publisher = publisher if publisher is not None else globalLogPublisher
        self.total = 0

    @property
    def size(self) -> int:
        return self._events.maxlen

    def resize(self, size: int) -> None:
        """Keep ``size`` events from now on (the newest ones stay)."""
        if size != self._events.maxlen:
            self._events = collections.deque(self._events, maxlen=size)

    def __call__(self, event: dict) -> None:
        level = event.get("log_level")
        if level is None or level < LogLevel.error:
            return
        record = event_as_record(event)
        if "traceback" in record:
            record["traceback"] = record["traceback"][-MAX_TRACEBACK:]
        for key, value in record.items():
            if isinstance(value, str):
                record[key] = redact_text(value)
        self._events.append(record)
        self.total += 1

    def events(self, limit: Optional[int] = None) -> list[dict]:
        """The kept events, oldest first; the last ``limit`` of them."""
        events = list(self._events)
        return events[-limit:] if limit else events

    def startService(self) -> None:
        super().startService()
        self._publisher.addObserver(self)

    def stopService(self) -> None:
        self._publisher.removeObserver(self)
        super().stopService()
