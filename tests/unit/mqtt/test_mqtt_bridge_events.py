"""The bridge's choices on a Clock: what is published for the camera
table's and recordings' events, when, and what a new session gets. The
broker connection is replaced by one that records what would be sent
(the real one is tested against Mosquitto in tests/integration)."""
from __future__ import annotations

import json

import pytest
from twisted.internet import defer

from camservice.cameras.model import CameraStatus
from camservice.config.model import HomeAssistantConfig, MqttConfig
from camservice.mqtt import client as client_module
from camservice.mqtt.bridge import MqttBridge, camera_event_topic
from camservice.mqtt.metrics import MqttMetrics
from camservice.rpc.views import CameraPresenter
from prometheus_client import CollectorRegistry


class RecordingClient:
    """Stands for the broker session: records publishes and subscriptions."""

    made = []

    def __init__(self, reactor, settings, backoff, on_connected, on_disconnected, on_message, **kw):
        self.settings = settings
        self.on_connected, self.on_disconnected, self.on_message = on_connected, on_disconnected, on_message
        self.connected = False
        self.sent = []
        self.subscribed = []
        RecordingClient.made.append(self)

    def start(self):
        pass

    def stop(self):
        self.connected = False
        return defer.succeed(None)

    def publish(self, topic, payload, qos, retain, properties=None):
        if self.connected:
            self.sent.append((topic, payload, retain))
        return self.connected

    def subscribe(self, topics, qos, no_local=False):
        self.subscribed += [(t, "no_local") if no_local else t for t in topics]

    def up(self):
        self.connected = True
        self.on_connected()

    def down(self):
        self.connected = False
        self.on_disconnected()

    def topics(self, retained=None):
        return [t for t, _, r in self.sent if retained is None or r == retained]

    def last(self, topic):
        return [p for t, p, _ in self.sent if t == topic][-1]


@pytest.fixture
def bridge(harness, monkeypatch):
    RecordingClient.made = []
    monkeypatch.setattr(client_module, "ReactorMqttClient", RecordingClient)
    config = MqttConfig(enabled=True, node_id="n1", coalesce_delay=0.5,
                        homeassistant=HomeAssistantConfig(enabled=False))
    b = MqttBridge(config, harness.config.server, harness.clock, harness.tree.bus, harness.registry,
                   CameraPresenter(), harness.tree.getServiceNamed("recordings").status, harness.dispatcher,
                   MqttMetrics(CollectorRegistry()))
    b.startService()
    yield b
    b.stopService()


def test_a_session_gets_availability_then_every_camera_retained(bridge):
    wire = RecordingClient.made[-1]
    assert wire.settings.will == ("camservice/n1/availability", b"offline", 1, True)
    assert wire.settings.client_id == "camservice-n1"
    wire.up()
    assert wire.subscribed == ["camservice/n1/rpc", ("camservice/n1/cameras/+/state", "no_local")]
    assert wire.sent[0] == ("camservice/n1/availability", b"online", True)
    state = json.loads(wire.last("camservice/n1/cameras/camera1000/state"))
    assert state["device"] == "camera1000" and state["status"] == "CONNECTED"
    assert json.loads(wire.last("camservice/n1/cameras/camera1000/recording")) == {"recording": False}
    assert bridge.state == "connected"
    # a new session: all of it again
    wire.down()
    assert bridge.state == "connecting"
    wire.sent.clear()
    wire.up()
    assert set(wire.topics(retained=True)) >= {"camservice/n1/availability", "camservice/n1/cameras/camera1000/state"}


def test_a_flapping_camera_is_published_once_as_it_ends(bridge, harness):
    wire = RecordingClient.made[-1]
    wire.up()
    wire.sent.clear()
    for _ in range(5):
        harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED)
        harness.clock.advance(0.05)
        harness.registry.update("camera1000", status=CameraStatus.CONNECTED)
        harness.clock.advance(0.05)
    harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED)
    assert wire.sent == []
    harness.clock.advance(0.5)
    states = [json.loads(p) for t, p, r in wire.sent if t.endswith("camera1000/state")]
    assert [s["status"] for s in states] == ["DISCONNECTED"]
    # once, under the API's topic and the notification's method
    assert wire.topics(retained=False) == ["camservice/n1/events/camera.disconnected",
                                           "camservice/n1/events/camera_status_update"]
    assert wire.last("camservice/n1/events/camera.disconnected") == wire.last("camservice/n1/cameras/camera1000/state")
    # back as it was published last: nothing
    harness.registry.update("camera1000", status=CameraStatus.CONNECTED)
    harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED)
    harness.clock.advance(0.5)
    assert len([t for t in wire.topics() if t.endswith("/state")]) == 1


def test_a_removed_camera_is_cleared(bridge, harness):
    wire = RecordingClient.made[-1]
    wire.up()
    wire.sent.clear()
    harness.registry.remove("camera1001")
    harness.clock.advance(0.5)
    assert ("camservice/n1/cameras/camera1001/state", b"", True) in wire.sent
    assert ("camservice/n1/cameras/camera1001/recording", b"", True) in wire.sent
    gone = json.loads(wire.last("camservice/n1/events/camera_status_update"))
    assert gone["device"] == "camera1001" and gone["removed"] is True
    assert json.loads(wire.last("camservice/n1/events/camera.disconnected")) == gone
    # and forgotten: nothing of it is kept for the next session
    assert not [t for t in bridge.publisher.retained if "camera1001" in t]
    assert "camera1001" not in bridge._views
    wire.down()
    wire.sent.clear()
    wire.up()
    assert not [t for t in wire.topics() if "camera1001" in t]


def test_camera_events_are_named_by_what_the_published_state_did(bridge, harness):
    wire = RecordingClient.made[-1]
    wire.up()

    def events_after(change):
        wire.sent.clear()
        change()
        harness.clock.advance(0.5)
        return [t.rsplit("/", 1)[1] for t in wire.topics(retained=False)]

    assert events_after(lambda: harness.registry.update("camera1000", name="Other")) == [
        "camera.status_change", "camera_status_update"]
    assert events_after(lambda: harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED)) == [
        "camera.disconnected", "camera_status_update"]
    assert events_after(lambda: harness.registry.update("camera1000", status=CameraStatus.CONNECTED)) == [
        "camera.connected", "camera_status_update"]
    # a flap that ends where it began: no event
    assert events_after(lambda: (harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED),
                                 harness.registry.update("camera1000", status=CameraStatus.CONNECTED))) == []


@pytest.mark.parametrize("before, after, topic", [
    (None, {"status": "CONNECTED"}, "camera.connected"),
    (None, {"status": "DISCONNECTED"}, "camera.disconnected"),
    (None, {"status": "ERROR"}, "camera.status_change"),
    ({"status": "CONNECTED"}, {"status": "ERROR"}, "camera.status_change"),
    ({"status": "ERROR"}, {"status": "DISCONNECTED"}, "camera.disconnected"),
    ({"status": "CONNECTED"}, {"status": "CONNECTED", "name": "x"}, "camera.status_change"),
])
def test_camera_event_topic(before, after, topic):
    assert camera_event_topic(before, after) == topic


def test_events_are_published_unretained_and_admin_ones_not_at_all(bridge, harness):
    wire = RecordingClient.made[-1]
    wire.up()
    wire.sent.clear()
    harness.tree.bus.publish("snapshot.taken", "camera1000", filename="a.jpg")
    harness.tree.bus.publish("system.config_changed", changed=["mqtt"])
    harness.tree.bus.publish("recording.start", "camera1000", status="STARTED", filename="r.mp4",
                             start_time="2026-01-01T00:00:00Z", format="mp4")
    harness.tree.bus.publish("recording.stop", "camera1000", status="STOPPED", filename="r.mp4", duration=3)
    harness.tree.bus.publish("recording.error", "camera1000", status="FAILED", filename="r2.mp4", reason="disk")
    assert wire.topics() == [
        "camservice/n1/events/snapshot.taken",
        "camservice/n1/cameras/camera1000/recording",
        "camservice/n1/events/recording.start", "camservice/n1/events/recording_status_update",
        "camservice/n1/cameras/camera1000/recording",
        "camservice/n1/events/recording.stop", "camservice/n1/events/recording_status_update",
        "camservice/n1/cameras/camera1000/recording",
        "camservice/n1/events/recording.error", "camservice/n1/events/recording_status_update",
    ]
    assert json.loads(wire.last("camservice/n1/events/snapshot.taken"))["filename"] == "a.jpg"
    assert json.loads(wire.last("camservice/n1/events/recording.start"))["filename"] == "r.mp4"
    assert json.loads(wire.last("camservice/n1/events/recording.error")) == json.loads(
        wire.last("camservice/n1/events/recording_status_update"))
    assert all(not r for t, _, r in wire.sent if "/events/" in t)


def test_while_disconnected_state_is_kept_and_sent_on_the_next_session(bridge, harness):
    wire = RecordingClient.made[-1]
    harness.registry.update("camera1000", name="Renamed")
    harness.clock.advance(0.5)
    assert wire.sent == []
    wire.up()
    assert json.loads(wire.last("camservice/n1/cameras/camera1000/state"))["name"] == "Renamed"


def test_a_clean_stop_says_offline(harness, bridge):
    wire = RecordingClient.made[-1]
    wire.up()
    bridge.stopService()
    assert wire.sent[-1] == ("camservice/n1/availability", b"offline", True)
    assert bridge.state == "disabled"


def test_reload_moves_the_session_and_disabling_ends_it(harness, bridge):
    import dataclasses

    wire = RecordingClient.made[-1]
    wire.up()
    new = dataclasses.replace(harness.config, mqtt=dataclasses.replace(bridge.config, node_id="n2"))
    bridge.reconfigService(new)
    assert wire.sent[-1] == ("camservice/n1/availability", b"offline", True)
    second = RecordingClient.made[-1]
    assert second is not wire and second.settings.client_id == "camservice-n2"
    off = dataclasses.replace(new, mqtt=dataclasses.replace(new.mqtt, enabled=False))
    bridge.reconfigService(off)
    assert bridge.state == "disabled" and RecordingClient.made[-1] is second
    assert bridge.health() == (True, {"status": "disabled"})


def test_check_config_names_missing_files(harness, bridge, tmp_path):
    import dataclasses

    from camservice.config import ConfigError

    new = dataclasses.replace(harness.config, mqtt=dataclasses.replace(bridge.config, password_file=tmp_path / "none"))
    with pytest.raises(ConfigError) as e:
        bridge.checkConfig(new)
    assert "mqtt.password_file" in str(e.value)


def test_a_state_the_broker_kept_of_a_camera_gone_is_cleared(bridge, harness):
    wire = RecordingClient.made[-1]
    wire.up()
    wire.sent.clear()
    ghost = json.dumps({"device": "camera7", "status": "CONNECTED"}).encode()
    wire.on_message("camservice/n1/cameras/camera7/state", ghost, None, True)
    assert ("camservice/n1/cameras/camera7/state", b"", True) in wire.sent
    assert ("camservice/n1/cameras/camera7/recording", b"", True) in wire.sent
    # ours, an empty one, or a live (not retained) one: left alone
    wire.sent.clear()
    wire.on_message("camservice/n1/cameras/camera1000/state", ghost, None, True)
    wire.on_message("camservice/n1/cameras/camera8/state", b"", None, True)
    wire.on_message("camservice/n1/cameras/camera9/state", ghost, None, False)
    assert wire.sent == []


def _signed_bridge(harness, monkeypatch):
    """A bridge whose presenter signs stream URLs, as with streams.auth."""
    RecordingClient.made = []
    monkeypatch.setattr(client_module, "ReactorMqttClient", RecordingClient)
    window = [0]

    def urls(path):
        token = f"secret{window[0]}"
        return {"rtsp": f"rtsp://127.0.0.1:8554/{path}?token={token}",
                "hls": f"http://user:pw@127.0.0.1:8888/{path}/index.m3u8?token={token}#t",
                "webrtc": None}

    presenter = CameraPresenter(urls, lambda: window[0])
    config = MqttConfig(enabled=True, node_id="n1", coalesce_delay=0, homeassistant=HomeAssistantConfig(enabled=False))
    b = MqttBridge(config, harness.config.server, harness.clock, harness.tree.bus, harness.registry, presenter,
                   harness.tree.getServiceNamed("recordings").status, harness.dispatcher,
                   MqttMetrics(CollectorRegistry()))
    b.window = window
    b.presenter = presenter
    return b


def test_no_stream_token_or_user_information_reaches_the_broker(harness, monkeypatch):
    bridge = _signed_bridge(harness, monkeypatch)
    bridge.startService()
    try:
        wire = RecordingClient.made[-1]
        wire.up()
        harness.registry.update("camera1000", name="Renamed")
        harness.registry.remove("camera1001")
        harness.clock.advance(0.5)
        assert any(t.endswith("/events/camera.status_change") for t in wire.topics())
        for topic, payload, _ in wire.sent:
            assert b"secret" not in payload and b"token" not in payload and b"pw@" not in payload, (topic, payload)
        state = json.loads(wire.last("camservice/n1/cameras/camera1000/state"))
        assert state["streams"] == {"rtsp": "rtsp://127.0.0.1:8554/camera1000",
                                    "hls": "http://127.0.0.1:8888/camera1000/index.m3u8", "webrtc": None}
        # the API's own view keeps its signed URLs (the presenter's object is not changed)
        api_view = bridge.presenter.camera(harness.registry.get("camera1000"))
        assert api_view["streams"]["rtsp"].endswith("?token=secret0")
        # a new token window is no change of the camera: nothing published
        wire.sent.clear()
        bridge.window[0] = 1
        harness.tree.bus.publish("camera.status_change", "camera1000", harness.registry.get("camera1000"))
        harness.clock.advance(0.5)
        assert [t for t in wire.topics() if t.endswith("/state")] == []
    finally:
        bridge.stopService()


def test_answers_go_only_under_the_nodes_rpc_response_topics(bridge):
    wire = RecordingClient.made[-1]
    wire.up()
    assert bridge.rpc.response_base == "camservice/n1/rpc/response/"
    bridge.stopService()
    assert bridge.rpc.response_base is None

