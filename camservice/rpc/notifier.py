"""Event bus -> JSON-RPC notifications to the sessions that want them.

Each event is rendered and encoded once, then written to every session
whose subscription, camera filter and allow list admit it.
"""
from __future__ import annotations

from typing import Callable, Optional

from twisted.logger import Logger

from camservice.codec import dumps
from camservice.events import CAMERA_TOPICS, RECORDING_TOPICS, Event, EventBus
from camservice.metrics import Metrics
from camservice.rpc.session import Session
from camservice.rpc.views import CameraPresenter
from camservice.timeutil import iso_timestamp

__all__ = ["Notifier", "notification_for"]


def notification_for(event: Event, clock, presenter: CameraPresenter) -> tuple[str, dict]:
    """The notification ``(method, params)`` announcing ``event``.

    ``camera.*`` events are ``camera_status_update`` with the Camera;
    ``recording.*`` are ``recording_status_update``; every other topic is an
    ``event`` notification carrying ``topic``, ``timestamp`` and the event's
    fields.
    """
    if event.topic in CAMERA_TOPICS:
        return "camera_status_update", presenter.camera(event.subject)
    data = dict(event.data or {})
    if event.topic in RECORDING_TOPICS:
        if event.device is not None:
            data = {"device": event.device, **data}
        return "recording_status_update", data
    params = {"topic": event.topic, "timestamp": iso_timestamp(clock.seconds())}
    if event.device is not None:
        params["device"] = event.device
    params.update(data)
    return "event", params


class Notifier:
    """Keeps the connected sessions and delivers events to them.

    :param bus: the event bus to listen to.
    :param clock: ``IReactorTime``.
    :param metrics: counts notifications sent.
    :param presenter: renders cameras.
    """

    log = Logger()

    def __init__(self, bus: EventBus, clock, metrics: Metrics, presenter: CameraPresenter):
        self._clock = clock
        self._presenter = presenter
        self._metrics = metrics
        self._sessions: dict[str, Session] = {}
        self._unsubscribe: Optional[Callable[[], None]] = None
        self._bus = bus

    def start(self) -> None:
        """Begin listening to the bus."""
        if self._unsubscribe is None:
            # first: a client hears of a change before MediaMTX is reconfigured
            self._unsubscribe = self._bus.subscribe(self.deliver, first=True)

    def stop(self) -> None:
        """Stop listening to the bus."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def attach(self, session: Session) -> None:
        self._sessions[session.conn_id] = session

    def detach(self, session: Session) -> None:
        self._sessions.pop(session.conn_id, None)

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def deliver(self, event: Event) -> int:
        """Send ``event`` to every session that wants it.

        :returns: how many sessions it was sent to.
        """
        recipients = [s for s in self._sessions.values() if s.wants(event)]
        if not recipients:
            return 0
        method, params = notification_for(event, self._clock, self._presenter)
        payload = dumps({"jsonrpc": "2.0", "method": method, "params": params})
        for session in recipients:
            session.send(payload)
        self._metrics.notifications.labels(method).inc(len(recipients))
        return len(recipients)

    def stats(self) -> dict:
        """Counts over all sessions, for ``get_subscription_stats`` and
        ``get_metrics``."""
        topic_counts: dict[str, int] = {}
        authenticated = 0
        subscribed = 0
        for session in self._sessions.values():
            if session.current_principal() is None:
                continue
            authenticated += 1
            if session.topics is not None:
                subscribed += 1
            for topic in session.client_topics:
                topic_counts[topic] = topic_counts.get(topic, 0) + 1
        return {
            "connections": len(self._sessions),
            "authenticated_clients": authenticated,
            "subscribed_clients": subscribed,
            "topic_counts": dict(sorted(topic_counts.items())),
        }
