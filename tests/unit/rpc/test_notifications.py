"""Subscriptions and notification delivery (API.md's rules)."""
from __future__ import annotations

from camservice.cameras.model import CameraStatus


def test_default_is_camera_and_recording_events_for_authenticated_only(harness):
    anonymous = harness.session()
    viewer = harness.session("viewer")
    harness.registry.update("camera1000", name="New name")
    harness.bus.publish("system.health", state="degraded")
    assert harness.sent(anonymous) == []
    notes = harness.sent(viewer)
    assert len(notes) == 1
    note = notes[0]
    assert note == {
        "jsonrpc": "2.0",
        "method": "camera_status_update",
        "params": {
            "device": "camera1000",
            "status": "CONNECTED",
            "name": "New name",
            "resolution": "320x240",
            "fps": 10,
            "streams": {
                "rtsp": "rtsp://127.0.0.1:8554/camera1000",
                "hls": "http://127.0.0.1:8888/camera1000/index.m3u8",
                "webrtc": "http://127.0.0.1:8889/camera1000/whep",
            },
        },
    }


def _attach(harness, *sessions):
    for s in sessions:
        harness.notifier.attach(s)


def test_subscription_narrows_topics_and_adds_up(harness):
    viewer = harness.session("viewer")
    _attach(harness, viewer)
    reply = harness.call(viewer, "subscribe_events", {"topics": ["camera.disconnected"]})
    assert reply["result"] == {"subscribed": True, "topics": ["camera.disconnected"], "filters": {}}
    harness.registry.update("camera1000", name="x")  # status_change: not subscribed
    assert harness.sent(viewer) == []
    reply = harness.call(viewer, "subscribe_events", {"topics": ["system.health"]})
    assert reply["result"]["topics"] == ["camera.disconnected", "system.health"]
    harness.bus.publish("system.health", state="degraded", component="mediamtx")
    (note,) = harness.sent(viewer)
    assert note["method"] == "event"
    assert note["params"]["topic"] == "system.health"
    assert note["params"]["state"] == "degraded"
    assert note["params"]["timestamp"].endswith("Z")
    harness.registry.remove("camera1001")
    assert harness.sent(viewer)[-1]["params"]["status"] == "DISCONNECTED"


def test_device_filter(harness):
    viewer = harness.session("viewer")
    _attach(harness, viewer)
    harness.call(viewer, "subscribe_events", {"topics": ["camera.status_change"], "filters": {"device": "camera1001"}})
    harness.registry.update("camera1000", name="a")
    harness.registry.update("camera1001", name="b")
    assert [n["params"]["device"] for n in harness.sent(viewer)] == ["camera1001"]


def test_camera_allow_list_applies_to_notifications(harness):
    limited = harness.session("viewer", cameras=["camera1001"])
    _attach(harness, limited)
    harness.registry.update("camera1000", status=CameraStatus.ERROR)
    harness.registry.update("camera1001", status=CameraStatus.ERROR)
    assert [n["params"]["device"] for n in harness.sent(limited)] == ["camera1001"]


def test_expired_session_gets_nothing(harness, clock):
    viewer = harness.session("viewer", expires_in=10)
    _attach(harness, viewer)
    clock.advance(11)
    harness.registry.update("camera1000", name="late")
    assert harness.sent(viewer) == []


def test_unsubscribe_some_and_all(harness):
    viewer = harness.session("viewer")
    _attach(harness, viewer)
    reply = harness.call(viewer, "unsubscribe_events", {"topics": ["camera.status_change", "system.health"]})
    assert reply["result"] == {"unsubscribed": True, "topics": ["camera.status_change"]}
    harness.registry.update("camera1000", name="quiet")
    assert harness.sent(viewer) == []
    reply = harness.call(viewer, "unsubscribe_events")
    assert reply["result"]["unsubscribed"] is True
    assert "camera.connected" in reply["result"]["topics"]
    harness.registry.remove("camera1000")
    assert harness.sent(viewer) == []


def test_subscription_stats(harness):
    a = harness.session("viewer")
    b = harness.session("viewer")
    anonymous = harness.session()
    _attach(harness, a, b, anonymous)
    harness.call(a, "subscribe_events", {"topics": ["system.health", "camera.connected"]})
    stats = harness.call(b, "get_subscription_stats")["result"]
    assert stats["client_id"] == b.conn_id
    assert "recording.start" in stats["client_topics"]
    assert stats["global_stats"]["active_clients"] == 2
    counts = stats["global_stats"]["topic_counts"]
    assert counts["system.health"] == 1
    assert counts["camera.connected"] == 2
    assert counts["camera.disconnected"] == 1
    assert stats["global_stats"]["total_subscriptions"] == sum(counts.values())


def test_one_encoding_per_event(harness):
    sessions = [harness.session("viewer") for _ in range(5)]
    _attach(harness, *sessions)
    harness.registry.update("camera1000", name="shared")
    payloads = {id(harness.outboxes[s.conn_id][0]) for s in sessions}
    assert len(payloads) == 1
