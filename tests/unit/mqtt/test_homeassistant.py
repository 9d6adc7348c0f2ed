"""Home Assistant discovery on a fake clock with a recording publish: the
config payloads against HA's documented schema (tests/helpers/ha_schema.py),
topics, removal, stills (interval, skip, HA offline, JPEG), commands."""
from __future__ import annotations

import json
import subprocess

import pytest
from twisted.internet import defer

from camservice.mqtt.homeassistant import HomeAssistantDiscovery, is_jpeg, object_slug
from helpers.ha_schema import check_config, check_topic

PREFIX = "camservice"
DISCOVERY = "homeassistant"
NODE = "box-1"
INTERVAL = 10.0


@pytest.fixture(scope="module")
def jpeg(tmp_path_factory) -> bytes:
    """A real JPEG written by FFmpeg (its test pattern), as a camera gives."""
    path = tmp_path_factory.mktemp("still") / "still.jpg"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc=size=320x240", "-frames:v", "1", "-y", str(path)],
        check=True, timeout=60,
    )
    return path.read_bytes()


def camera(camera_id="camera0", status="CONNECTED", name="Front door", **extra):
    view = {
        "device": camera_id,
        "status": status,
        "name": name,
        "resolution": "320x240",
        "fps": 10,
        "streams": {"rtsp": None, "hls": None, "webrtc": None},
    }
    view.update(extra)
    return view


class Recorder:
    """The bridge's side: what was published, and the still and command
    Deferreds handed out (fired by the test)."""

    def __init__(self):
        self.published: list[tuple[str, bytes, bool]] = []
        self.stills: list[tuple[str, defer.Deferred]] = []
        self.calls: list[tuple[str, str, defer.Deferred]] = []

    def publish(self, topic, payload, retain):
        assert isinstance(topic, str) and isinstance(payload, bytes) and isinstance(retain, bool)
        self.published.append((topic, payload, retain))

    def take_still(self, camera_id):
        d = defer.Deferred()
        self.stills.append((camera_id, d))
        return d

    def _call(self, method, camera_id):
        d = defer.Deferred()
        self.calls.append((method, camera_id, d))
        return d

    def start_recording(self, camera_id):
        return self._call("start_recording", camera_id)

    def stop_recording(self, camera_id):
        return self._call("stop_recording", camera_id)

    def take_snapshot(self, camera_id):
        return self._call("take_snapshot", camera_id)

    def take(self):
        out, self.published = self.published, []
        return out

    def configs(self):
        return {t: json.loads(p) for t, p, _ in self.published if t.endswith("/config") and p}

    def stills_published(self):
        return [(t, p, r) for t, p, r in self.published if t.endswith("/still")]


@pytest.fixture
def bridge():
    return Recorder()


@pytest.fixture
def ha(bridge, clock):
    discovery = make(bridge, clock)
    yield discovery
    discovery.stop()


def make(bridge, clock, interval=INTERVAL, node=NODE):
    return HomeAssistantDiscovery(
        publish=bridge.publish,
        node_id=node,
        topic_prefix=PREFIX,
        discovery_prefix=DISCOVERY,
        take_still=bridge.take_still,
        commands=bridge,
        clock=clock,
        still_interval=interval,
        node_info={"name": "Box one", "sw_version": "0.1.0", "availability_topic": f"{PREFIX}/{node}/availability"},
    )


def base(camera_id="camera0"):
    return f"{PREFIX}/{NODE}/cameras/{camera_id}"


def node_dev():
    return f"camservice_{object_slug(NODE)}"


# -- payloads against HA's schema ------------------------------------------


def test_each_camera_has_four_entities_valid_for_ha(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    configs = bridge.configs()
    by_kind = {}
    for topic, payload in configs.items():
        parts = check_topic(topic)
        assert parts["prefix"] == DISCOVERY
        assert check_config(parts["component"], payload) == [], topic
        by_kind.setdefault((parts["node_id"], parts["object_id"]), parts["component"])
    assert by_kind == {
        ("box-1", "online"): "binary_sensor",
        ("box-1", "camera0_camera"): "camera",
        ("box-1", "camera0_connected"): "binary_sensor",
        ("box-1", "camera0_recording"): "switch",
        ("box-1", "camera0_snapshot"): "button",
    }
    # every config retained
    assert all(retain for t, _, retain in bridge.published if t.endswith("/config"))


def test_the_schema_table_refuses_what_ha_would_not_read():
    # a test that cannot fail is a defect: the checker finds real mistakes
    assert check_config("camera", {"name": "x"}) == ["camera: required key 'topic' is missing"]
    assert any("state_topc" in e for e in check_config("binary_sensor", {"state_topic": "a", "state_topc": "b"}))
    assert any("must be" in e for e in check_config("switch", {"command_topic": 5}))
    assert any("wildcards" in e for e in check_config("button", {"command_topic": "a/+/b"}))
    assert any("identifiers" in e for e in check_config("button", {"command_topic": "a", "unique_id": "u", "device": {"name": "n"}}))
    assert any("unique_id" in e for e in check_config("button", {"command_topic": "a", "device": {"identifiers": ["i"]}}))
    assert any("together" in e for e in check_config("camera", {"topic": "t", "availability_topic": "a", "availability": [{"topic": "a"}]}))
    assert any("'topic'" in e for e in check_config("camera", {"topic": "t", "availability": [{"payload_available": "on"}]}))
    assert any("device_class" in e for e in check_config("binary_sensor", {"state_topic": "a", "device_class": "connected"}))
    assert any("origin" in e for e in check_config("switch", {"command_topic": "a", "origin": {"sw_version": "1"}}))
    with pytest.raises(AssertionError):
        check_topic("homeassistant/switch/box.1/camera0_recording/config")


def test_devices_one_per_camera_via_the_node(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0", name="Front"))
    ha.camera_updated(camera("camera1", name="Back"))
    configs = bridge.configs()
    devices = {}
    for topic, payload in configs.items():
        ids = tuple(payload["device"]["identifiers"])
        devices.setdefault(ids, []).append(payload)
    node = devices.pop((node_dev(),))
    assert node[0]["device"]["manufacturer"] == "camservice"
    assert set(devices) == {(f"{node_dev()}_camera0",), (f"{node_dev()}_camera1",)}
    for ids, entities in devices.items():
        assert len(entities) == 4
        for payload in entities:
            device = payload["device"]
            assert device["via_device"] == node_dev()
            assert device["manufacturer"] == "camservice"
            assert device["sw_version"] == "0.1.0"
            assert device["model"]
    front = devices[(f"{node_dev()}_camera0",)][0]["device"]
    assert front["name"].startswith("Front")
    unique_ids = [p["unique_id"] for p in configs.values()]
    assert len(unique_ids) == len(set(unique_ids)) == 9


def test_entities_point_at_the_fixed_topics(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    c = bridge.configs()
    cam = c[f"{DISCOVERY}/camera/box-1/camera0_camera/config"]
    assert cam["topic"] == f"{base()}/still"
    assert "image_encoding" not in cam  # the payload is the raw JPEG
    sensor = c[f"{DISCOVERY}/binary_sensor/box-1/camera0_connected/config"]
    assert sensor["state_topic"] == f"{base()}/state"
    assert sensor["device_class"] == "connectivity"
    switch = c[f"{DISCOVERY}/switch/box-1/camera0_recording/config"]
    assert switch["command_topic"] == f"{base()}/recording/set"
    assert switch["state_topic"] == f"{base()}/recording"
    button = c[f"{DISCOVERY}/button/box-1/camera0_snapshot/config"]
    assert button["command_topic"] == f"{base()}/snapshot/press"
    assert button["payload_press"] == "PRESS"
    node_availability = {"topic": f"{PREFIX}/{NODE}/availability", "payload_available": "online", "payload_not_available": "offline"}
    for payload in (cam, sensor, switch, button):
        assert payload["availability"][0] == node_availability
    for payload in (cam, switch, button):
        assert payload["availability_mode"] == "all"
        assert payload["availability"][1]["topic"] == f"{base()}/state"


def render(template: str, value_json: dict) -> str:
    """Our three value templates are one conditional each; read them as
    HA's Jinja would, without Jinja: ``'A' if value_json.K == 'V' else 'B'``
    or ``'A' if value_json.K else 'B'``."""
    import re

    m = re.fullmatch(r"\{\{ '(\w+)' if value_json\.(\w+)(?: == '(\w+)')? else '(\w+)' \}\}", template)
    assert m, template
    yes, key, wanted, no = m.groups()
    value = value_json.get(key)
    return yes if (value == wanted if wanted is not None else bool(value)) else no


def test_value_templates_read_the_bridge_payloads(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    c = bridge.configs()
    sensor = c[f"{DISCOVERY}/binary_sensor/box-1/camera0_connected/config"]
    for status, expected in (("CONNECTED", "ON"), ("DISCONNECTED", "OFF"), ("ERROR", "OFF")):
        assert render(sensor["value_template"], camera(status=status)) == expected
    assert expected in (sensor["payload_on"], sensor["payload_off"])
    switch = c[f"{DISCOVERY}/switch/box-1/camera0_recording/config"]
    assert render(switch["value_template"], {"recording": True}) == switch["state_on"]
    assert render(switch["value_template"], {"recording": False}) == switch["state_off"]
    cam = c[f"{DISCOVERY}/camera/box-1/camera0_camera/config"]
    template = cam["availability"][1]["value_template"]
    assert render(template, camera(status="CONNECTED")) == "online"
    assert render(template, camera(status="DISCONNECTED")) == "offline"


def test_node_ids_with_dots_become_valid_discovery_ids(bridge, clock):
    ha = make(bridge, clock, node="cam.box.local")
    ha.connected()
    ha.camera_updated(camera("camera3"))
    ha.stop()
    for topic in bridge.configs():
        check_topic(topic)
        assert "cam_box_local" in topic
    # the bridge's own topics keep the node id as it is
    assert f"{PREFIX}/cam.box.local/cameras/+/recording/set" in ha.subscriptions()


# -- when configs are published ---------------------------------------------


def test_nothing_published_before_connected_then_everything(ha, bridge):
    ha.camera_updated(camera("camera0"))
    assert bridge.published == []
    ha.connected()
    assert len(bridge.configs()) == 5


def test_unchanged_camera_is_not_republished(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    bridge.take()
    ha.camera_updated(camera("camera0"))
    ha.camera_updated(camera("camera0", status="DISCONNECTED"))  # the state topic's job, not the configs'
    assert [t for t, _, _ in bridge.published if t.endswith("/config")] == []
    ha.camera_updated(camera("camera0", name="Garden"))
    changed = bridge.configs()
    assert len(changed) == 4
    assert all(p["device"]["name"].startswith("Garden") for p in changed.values())


def test_reconnect_and_ha_birth_republish_all_configs(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    first = bridge.configs()
    bridge.take()
    ha.disconnected()
    ha.connected()
    assert bridge.configs() == first
    bridge.take()
    assert ha.handle_message(f"{DISCOVERY}/status", b"online") is True
    assert bridge.configs() == first


def test_birth_while_disconnected_publishes_nothing(ha, bridge):
    ha.camera_updated(camera("camera0"))
    assert ha.handle_message(f"{DISCOVERY}/status", b"online") is True
    assert bridge.published == []


def test_removed_camera_clears_each_config(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    ha.camera_updated(camera("camera1"))
    topics = [t for t in bridge.configs() if "/camera0_" in t]
    assert len(topics) == 4
    bridge.take()
    ha.camera_removed("camera0")
    assert sorted(bridge.published) == sorted((t, b"", True) for t in topics)
    bridge.take()
    ha.camera_removed("camera0")  # already gone: nothing more
    assert bridge.published == []
    # and it stays out of the configs republished on reconnect
    ha.disconnected()
    ha.connected()
    assert not [t for t in bridge.configs() if "/camera0_" in t]
    assert len([t for t in bridge.configs() if "/camera1_" in t]) == 4


def test_camera_removed_while_disconnected_is_cleared_on_connect(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    topics = sorted(t for t in bridge.configs() if "/camera0_" in t)
    bridge.take()
    ha.disconnected()
    ha.camera_removed("camera0")
    assert bridge.published == []
    ha.connected()
    assert sorted(t for t, p, r in bridge.published if p == b"" and r) == topics


def test_camera_back_before_reconnect_is_not_cleared(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    bridge.take()
    ha.disconnected()
    ha.camera_removed("camera0")
    ha.camera_updated(camera("camera0"))
    ha.connected()
    assert [t for t, p, _ in bridge.published if p == b""] == []
    assert len([t for t in bridge.configs() if "/camera0_" in t]) == 4


def test_invalid_camera_update_is_ignored(ha, bridge, log_events):
    events = log_events("camservice.mqtt")
    ha.connected()
    bridge.take()
    ha.camera_updated({"device": "../x", "status": "CONNECTED"})
    ha.camera_updated({"status": "CONNECTED"})
    assert bridge.published == []
    assert len([e for e in events if e["log_level"].name == "warn"]) == 2


# -- subscriptions and commands ----------------------------------------------


def test_subscriptions(ha):
    assert sorted(ha.subscriptions()) == sorted([
        f"{DISCOVERY}/status",
        f"{PREFIX}/{NODE}/cameras/+/recording/set",
        f"{PREFIX}/{NODE}/cameras/+/snapshot/press",
    ])


def test_switch_maps_to_start_and_stop_recording(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    assert ha.handle_message(f"{base()}/recording/set", b"ON") is True
    assert ha.handle_message(f"{base()}/recording/set", b"OFF") is True
    assert [(m, c) for m, c, _ in bridge.calls] == [("start_recording", "camera0"), ("stop_recording", "camera0")]
    for _, _, d in bridge.calls:
        d.callback({})


def test_failed_command_is_logged_not_raised(ha, bridge, log_events):
    events = log_events("camservice.mqtt")
    ha.connected()
    ha.camera_updated(camera("camera0"))
    ha.handle_message(f"{base()}/recording/set", b"ON")
    bridge.calls[0][2].errback(RuntimeError("already recording"))
    warned = [e for e in events if e.get("method") == "start_recording" and e["log_level"].name == "warn"]
    assert warned and warned[0]["error"] == "already recording"


def test_bad_command_payloads_and_cameras_do_nothing(ha, bridge):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    assert ha.handle_message(f"{base()}/recording/set", b"TOGGLE") is True
    assert ha.handle_message(f"{base()}/snapshot/press", b"press me") is True
    assert ha.handle_message(f"{base('camera9')}/recording/set", b"ON") is True  # unknown camera
    assert ha.handle_message(f"{PREFIX}/{NODE}/cameras/evil/recording/set", b"ON") is True
    assert bridge.calls == []


def test_other_topics_are_not_ours(ha):
    assert ha.handle_message(f"{PREFIX}/{NODE}/rpc", b"{}") is False
    assert ha.handle_message(f"{base()}/state", b"{}") is False
    assert ha.handle_message(f"{PREFIX}/other-node/cameras/camera0/recording/set", b"ON") is False
    assert ha.handle_message("homeassistant/switch/x/config", b"{}") is False


def test_snapshot_button_takes_a_snapshot_then_publishes_a_fresh_still(ha, bridge, jpeg):
    ha.connected()
    ha.camera_updated(camera("camera0"))
    # the still loop's first round is under way
    assert [c for c, _ in bridge.stills] == ["camera0"]
    assert ha.handle_message(f"{base()}/snapshot/press", b"PRESS") is True
    (method, camera_id, snap), = bridge.calls
    assert (method, camera_id) == ("take_snapshot", "camera0")
    snap.callback({"status": "SUCCESS"})
    # one still already being taken: the fresh one comes after it, not beside it
    assert len(bridge.stills) == 1
    bridge.stills[0][1].callback(jpeg)
    assert len(bridge.stills) == 2
    bridge.stills[1][1].callback(jpeg)
    assert bridge.stills_published() == [(f"{base()}/still", jpeg, False)] * 2


def test_failed_snapshot_publishes_no_still(bridge, clock):
    ha = make(bridge, clock, interval=0)
    ha.connected()
    ha.camera_updated(camera("camera0"))
    ha.handle_message(f"{base()}/snapshot/press", b"PRESS")
    bridge.calls[0][2].errback(RuntimeError("camera disconnected"))
    assert bridge.stills == []
    ha.stop()


# -- stills -------------------------------------------------------------------


def test_stills_every_interval_while_ha_online(ha, bridge, clock, jpeg):
    ha.camera_updated(camera("camera0"))
    ha.camera_updated(camera("camera1"))
    ha.connected()  # HA's status unknown: assumed online; the first round at once
    assert sorted(c for c, _ in bridge.stills) == ["camera0", "camera1"]
    for _, d in bridge.stills:
        d.callback(jpeg)
    assert sorted(t for t, _, _ in bridge.stills_published()) == [f"{base('camera0')}/still", f"{base('camera1')}/still"]
    assert all(not retain for _, _, retain in bridge.stills_published())
    clock.advance(INTERVAL * 0.95)
    assert len(bridge.stills) == 2
    clock.advance(INTERVAL * 0.1)
    assert len(bridge.stills) == 4
    for _, d in bridge.stills[2:]:
        d.callback(jpeg)


def test_a_camera_still_being_taken_is_skipped(ha, bridge, clock, jpeg):
    ha.camera_updated(camera("camera0"))
    ha.connected()
    assert len(bridge.stills) == 1
    clock.advance(INTERVAL)
    clock.advance(INTERVAL)
    assert len(bridge.stills) == 1  # never two at once for one camera
    bridge.stills[0][1].callback(jpeg)
    clock.advance(INTERVAL)
    assert len(bridge.stills) == 2
    bridge.stills[1][1].callback(jpeg)


def test_disconnected_cameras_get_no_stills(ha, bridge, clock, jpeg):
    ha.camera_updated(camera("camera0", status="DISCONNECTED"))
    ha.connected()
    clock.advance(INTERVAL)
    assert bridge.stills == []
    # one that connects gets a still at once, not an interval later
    ha.camera_updated(camera("camera0", status="CONNECTED"))
    assert [c for c, _ in bridge.stills] == ["camera0"]
    bridge.stills[0][1].callback(jpeg)
    ha.camera_updated(camera("camera0", status="CONNECTED"))  # no change: no extra still
    assert len(bridge.stills) == 1


def test_ha_offline_stops_stills_and_online_restarts_them(ha, bridge, clock, jpeg):
    ha.camera_updated(camera("camera0"))
    ha.connected()
    bridge.stills[0][1].callback(jpeg)
    assert ha.handle_message(f"{DISCOVERY}/status", b"offline") is True
    clock.advance(INTERVAL * 5)
    assert len(bridge.stills) == 1
    ha.handle_message(f"{DISCOVERY}/status", b"online")
    assert len(bridge.stills) == 2  # at once: HA just came up without a picture
    bridge.stills[1][1].callback(jpeg)
    clock.advance(INTERVAL)
    assert len(bridge.stills) == 3
    bridge.stills[2][1].callback(jpeg)


def test_retained_offline_status_before_connect_means_no_stills(ha, bridge, clock):
    ha.camera_updated(camera("camera0"))
    ha.handle_message(f"{DISCOVERY}/status", b"offline")
    ha.connected()
    clock.advance(INTERVAL * 3)
    assert bridge.stills == []


def test_stills_stop_while_disconnected(ha, bridge, clock, jpeg):
    ha.camera_updated(camera("camera0"))
    ha.connected()
    ha.disconnected()
    bridge.stills[0][1].callback(jpeg)  # arrives after the session went down
    assert bridge.stills_published() == []
    clock.advance(INTERVAL * 3)
    assert len(bridge.stills) == 1


def test_a_failed_still_is_logged_and_the_next_round_tries_again(ha, bridge, clock, jpeg, log_events):
    events = log_events("camservice.mqtt")
    ha.camera_updated(camera("camera0"))
    ha.connected()
    bridge.stills[0][1].errback(RuntimeError("ffmpeg exited 1"))
    assert [e["error"] for e in events if e.get("camera_id") == "camera0" and "error" in e] == ["ffmpeg exited 1"]
    assert bridge.stills_published() == []
    clock.advance(INTERVAL)
    bridge.stills[1][1].callback(jpeg)
    assert len(bridge.stills_published()) == 1


def test_a_still_that_is_not_a_jpeg_is_not_published(ha, bridge, jpeg, log_events):
    events = log_events("camservice.mqtt")
    ha.camera_updated(camera("camera0"))
    ha.connected()
    bridge.stills[0][1].callback(jpeg[: len(jpeg) // 2])  # truncated: no EOI
    assert bridge.stills_published() == []
    assert [e for e in events if e["log_level"].name == "error"]


def test_published_still_is_a_valid_jpeg(ha, bridge, jpeg, tmp_path):
    ha.camera_updated(camera("camera0"))
    ha.connected()
    bridge.stills[0][1].callback(jpeg)
    (topic, data, retain), = bridge.stills_published()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    assert is_jpeg(data)
    path = tmp_path / "published.jpg"
    path.write_bytes(data)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "json", str(path)],
        check=True, capture_output=True, timeout=60,
    )
    (stream,) = json.loads(probe.stdout)["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 320, 240)


def test_is_jpeg():
    assert is_jpeg(b"\xff\xd8\xff\xe0xx\xff\xd9")
    assert not is_jpeg(b"")
    assert not is_jpeg(b"\x89PNG\r\n\x1a\n")
    assert not is_jpeg(b"\xff\xd8\xff\xe0xxxx")


def test_removed_camera_gets_no_late_still(ha, bridge, jpeg):
    ha.camera_updated(camera("camera0"))
    ha.connected()
    ha.camera_removed("camera0")
    bridge.stills[0][1].callback(jpeg)
    assert bridge.stills_published() == []


def test_no_interval_means_stills_on_request_only(bridge, clock, jpeg):
    ha = make(bridge, clock, interval=0)
    ha.camera_updated(camera("camera0"))
    ha.connected()
    clock.advance(3600)
    assert bridge.stills == []
    ha.request_still("camera0")
    bridge.stills[0][1].callback(jpeg)
    assert len(bridge.stills_published()) == 1
    ha.stop()


def test_negative_interval_is_refused(bridge, clock):
    with pytest.raises(ValueError):
        make(bridge, clock, interval=-1)


def test_stop_cancels_the_still_being_taken_and_ends_the_loop(ha, bridge, clock):
    ha.camera_updated(camera("camera0"))
    ha.connected()
    d = bridge.stills[0][1]
    ha.stop()
    assert d.called  # cancelled
    clock.advance(INTERVAL * 3)
    assert len(bridge.stills) == 1
    bridge.take()
    ha.connected()  # too late: stopped for good
    ha.camera_updated(camera("camera1"))
    assert bridge.published == []
