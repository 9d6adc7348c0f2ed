"""The ring of recent error events."""
from __future__ import annotations

from twisted.logger import Logger, LogPublisher

from camservice.ops.recent import RecentErrors


def _ring(size=3):
    publisher = LogPublisher()
    ring = RecentErrors(size, publisher)
    return ring, Logger(namespace="camservice.test", observer=publisher)


def test_keeps_the_last_errors_and_criticals_only_while_running():
    ring, log = _ring(3)
    log.error("before start {n}", n=0)
    ring.startService()
    log.info("not kept")
    log.warn("not kept either")
    for n in range(1, 5):
        log.error("failed {n}", n=n, camera_id="camera3")
    log.critical("outage")
    ring.stopService()
    log.error("after stop")
    events = ring.events()
    assert [e["message"] for e in events] == ["failed 3", "failed 4", "outage"]
    assert events[0]["level"] == "error" and events[0]["camera_id"] == "camera3"
    assert events[0]["system"] == "camservice.test" and "time" in events[0]
    assert ring.total == 5
    assert [e["message"] for e in ring.events(limit=1)] == ["outage"]


def test_failures_keep_their_traceback_and_urls_lose_their_credentials():
    ring, log = _ring()
    ring.startService()
    try:
        raise RuntimeError("cannot reach rtsp://user:hunter2@192.0.2.1/x")
    except RuntimeError:
        log.failure("probe of {camera} failed", camera="camera3", url="rtsp://user:hunter2@192.0.2.1/x")
    ring.stopService()
    (event,) = ring.events()
    assert event["level"] == "critical"
    assert "RuntimeError" in event["traceback"]
    assert "hunter2" not in event["traceback"] and event["url"] == "rtsp://***@192.0.2.1/x"


def test_resize_keeps_the_newest():
    ring, log = _ring(5)
    ring.startService()
    for n in range(5):
        log.error("e{n}", n=n)
    ring.resize(2)
    ring.stopService()
    assert [e["message"] for e in ring.events()] == ["e3", "e4"]
    assert ring.size == 2
