"""The in-process event bus: camera, recording, snapshot and system events.

Topic names are fixed (API.md); publishing or subscribing to any other name
is a programming error. Each listener is isolated: one that raises or fails
is logged and the others still run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger

__all__ = ["ADMIN_TOPICS", "CAMERA_TOPICS", "Event", "EventBus", "TOPICS"]

CAMERA_TOPICS = frozenset({"camera.connected", "camera.disconnected", "camera.status_change"})
RECORDING_TOPICS = frozenset({"recording.start", "recording.stop", "recording.error"})
#: Delivered to admin sessions only (and to them without subscribing).
ADMIN_TOPICS = frozenset({"system.config_changed"})
TOPICS = CAMERA_TOPICS | RECORDING_TOPICS | ADMIN_TOPICS | frozenset(
    {"snapshot.taken", "system.health", "system.startup", "system.shutdown"}
)


@dataclass(frozen=True)
class Event:
    """Something that happened.

    :ivar topic: one of :data:`TOPICS`.
    :ivar device: the camera concerned, if any (for ``{device}`` filters).
    :ivar subject: the object the event is about (a camera for
        ``camera.*``), rendered by whoever delivers it.
    :ivar data: extra fields for the notification.
    """

    topic: str
    device: Optional[str] = None
    subject: Any = None
    data: Optional[dict] = None


Listener = Callable[[Event], Any]


class EventBus:
    """Delivers each published :class:`Event` to every listener."""

    log = Logger()

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener, first: bool = False) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on.

        :param first: call it before the listeners already subscribed
            (clients' notifications go out before slower reactions).
        :returns: a function that unsubscribes it.
        """
        if first:
            self._listeners.insert(0, listener)
        else:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, topic: str, device: Optional[str] = None, subject: Any = None, **data: Any) -> Event:
        """Publish an event to all listeners.

        :raises ValueError: for a topic that is not in :data:`TOPICS`.
        """
        if topic not in TOPICS:
            raise ValueError(f"unknown event topic {topic!r}")
        event = Event(topic, device, subject, data or None)
        for listener in list(self._listeners):
            defer.maybeDeferred(listener, event).addErrback(
                lambda f, topic=topic: self.log.failure(
                    "event listener failed on {topic}", failure=f, topic=topic
                )
            )
        return event
