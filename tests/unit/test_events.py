"""The event bus isolates listeners and knows its topics."""
from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.logger import globalLogPublisher

from camservice.events import TOPICS, EventBus


def test_unknown_topic_is_refused():
    with pytest.raises(ValueError):
        EventBus().publish("camera.exploded")


def test_topics_are_api_md_topics():
    assert TOPICS == {
        "camera.connected", "camera.disconnected", "camera.status_change",
        "recording.start", "recording.stop", "recording.error",
        "snapshot.taken", "system.health", "system.startup", "system.shutdown",
        # extension 1.2, admins only
        "system.config_changed",
    }


def test_a_failing_listener_is_logged_and_others_still_run():
    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        bus = EventBus()
        got = []
        bus.subscribe(lambda e: 1 / 0)
        bus.subscribe(lambda e: defer.fail(RuntimeError("async failure")))
        bus.subscribe(got.append)
        event = bus.publish("system.health", state="ok")
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert got == [event]
    assert event.data == {"state": "ok"}
    failures = [e["log_failure"] for e in logged if "log_failure" in e]
    assert len(failures) == 2
    failures[0].trap(ZeroDivisionError)
    failures[1].trap(RuntimeError)


def test_unsubscribe():
    bus = EventBus()
    got = []
    unsubscribe = bus.subscribe(got.append)
    unsubscribe()
    unsubscribe()
    bus.publish("system.startup")
    assert got == []
