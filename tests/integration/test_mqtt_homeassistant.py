"""Home Assistant discovery of a running camservice on a real Mosquitto:
the retained configs HA would read pass HA's documented schema
(tests/helpers/ha_schema.py), stills on the camera's topic are JPEGs
FFmpeg decodes, and HA's birth, switch and button work end to end.

Home Assistant itself is not run: what it reads and sends is MQTT, and
Mosquitto's own clients read and send the same."""
from __future__ import annotations

import json

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from helpers.broker import start_broker, watch
from helpers.ha_schema import check_config, check_topic
from helpers.processes import run

NODE = "ha-node"
PREFIX = "camservice"
DISCOVERY = "homeassistant"
CAMERA = "camera1000"
BASE = f"{PREFIX}/{NODE}/cameras/{CAMERA}"


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto with a password file, on a free loopback port."""
    broker = pytest_twisted.blockon(defer.ensureDeferred(start_broker(reactor, tmp_path / "broker")))
    yield broker
    pytest_twisted.blockon(defer.ensureDeferred(broker.stop()))


@pytest.fixture
def service_settings(broker, tmp_path):
    password = tmp_path / "mqtt-password"
    password.write_text(broker.users["camservice"] + "\n")
    password.chmod(0o600)
    return {
        "mqtt": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": broker.port,
            "node_id": NODE,
            "username": "camservice",
            "password_file": str(password),
            "keepalive": 10,
            "reconnect": {"initial_delay": 0.2, "max_delay": 1},
            "homeassistant": {"enabled": True, "discovery_prefix": DISCOVERY, "still_interval": 2},
        }
    }


def _configs(watcher) -> dict:
    """config topic -> its last message (retained removals dropped)."""
    return watcher.latest(lambda t: t.startswith(f"{DISCOVERY}/") and t.endswith("/config"))


async def _publish(broker, topic: str, payload: str, user: str = "watcher", retain: bool = False):
    argv = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), *broker.credentials(user), "-V", "mqttv5",
            "-q", "1", "-t", topic, "-m", payload]
    if retain:
        argv.append("-r")
    code, out, err = await run(reactor, argv)
    assert code == 0, out + err


async def _decodes_as_jpeg(data: bytes, tmp_path, name: str) -> dict:
    assert data[:2] == b"\xff\xd8", "no JPEG SOI marker"
    assert data[-2:] == b"\xff\xd9", "no JPEG EOI marker"
    path = tmp_path / name
    path.write_bytes(data)
    code, out, err = await run(reactor, ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
                                         "-of", "json", str(path)])
    assert code == 0, err
    (stream,) = json.loads(out)["streams"]
    return stream


@pytest_twisted.ensureDeferred
async def test_discovery_configs_are_retained_and_valid_for_home_assistant(live, broker, tmp_path):
    # the node publishes at connect; a subscriber arriving later gets the
    # configs from the broker's retained store
    first = watch(reactor, broker, [f"{PREFIX}/{NODE}/#"])
    try:
        await first.until(lambda w: w.latest(lambda t: t == f"{BASE}/state"), what="the camera's state")
    finally:
        await first.stop()
    watcher = watch(reactor, broker, [f"{DISCOVERY}/#"])
    try:
        configs = await watcher.until(lambda w: len(_configs(w)) >= 5 and _configs(w), what="five retained configs")
        assert all(m.retained for m in configs.values())
        kinds = {}
        for topic, message in configs.items():
            parts = check_topic(topic)
            payload = message.json()
            assert check_config(parts["component"], payload) == [], (topic, payload)
            kinds[(parts["node_id"], parts["object_id"])] = parts["component"]
        assert kinds == {
            (NODE, "online"): "binary_sensor",
            (NODE, f"{CAMERA}_camera"): "camera",
            (NODE, f"{CAMERA}_connected"): "binary_sensor",
            (NODE, f"{CAMERA}_recording"): "switch",
            (NODE, f"{CAMERA}_snapshot"): "button",
        }
        camera = configs[f"{DISCOVERY}/camera/{NODE}/{CAMERA}_camera/config"].json()
        assert camera["topic"] == f"{BASE}/still"
        node_device = configs[f"{DISCOVERY}/binary_sensor/{NODE}/online/config"].json()["device"]
        assert camera["device"]["via_device"] in node_device["identifiers"]
        # every availability topic the entities name is one the node keeps retained
        for message in configs.values():
            for entry in message.json().get("availability", []):
                assert entry["topic"] in (f"{PREFIX}/{NODE}/availability", f"{BASE}/state")

    finally:
        await watcher.stop()


@pytest_twisted.ensureDeferred
async def test_home_assistant_birth_republishes_the_configs(live, broker):
    watcher = watch(reactor, broker, [f"{DISCOVERY}/#"])
    try:
        await watcher.until(lambda w: len(_configs(w)) >= 5, what="five retained configs")
        before = len([m for m in watcher.messages if m.topic.endswith("/config")])
        await _publish(broker, f"{DISCOVERY}/status", "online")
        await watcher.until(
            lambda w: len([m for m in w.messages if m.topic.endswith("/config")]) >= before + 5,
            timeout=10,
            what="the configs republished after HA's birth",
        )
    finally:
        await watcher.stop()


@pytest_twisted.ensureDeferred
async def test_stills_on_the_camera_topic_are_jpegs_ffmpeg_decodes(live, broker, tmp_path, log_events):
    events = log_events("camservice.mqtt")
    watcher = watch(reactor, broker, [f"{BASE}/still"])
    try:
        try:
            (still,) = await watcher.until(lambda w: w.messages[:1], timeout=60, what="a still")
        except AssertionError as e:
            why = [(ev.get("log_format"), ev.get("error")) for ev in events if ev.get("camera_id") == CAMERA]
            raise AssertionError(f"{e}; the node said: {why[-10:]}") from None
        assert not still.retained
        stream = await _decodes_as_jpeg(still.payload, tmp_path, "still.jpg")
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 320, 240)
        # HA gone (its will): no more stills; back: stills again
        await _publish(broker, f"{DISCOVERY}/status", "offline")
        count = len(watcher.messages)
        await task.deferLater(reactor, 7, lambda: None)  # three still intervals and more
        assert len(watcher.messages) <= count + 1  # at most the one under way when HA left
        settled = len(watcher.messages)
        await _publish(broker, f"{DISCOVERY}/status", "online")
        await watcher.until(lambda w: len(w.messages) > settled, timeout=30, what="stills after HA's birth")
    finally:
        await watcher.stop()


@pytest_twisted.ensureDeferred
async def test_switch_records_and_button_snapshots(live, broker, tmp_path):
    watcher = watch(reactor, broker, [f"{BASE}/recording", f"{BASE}/still", f"{PREFIX}/{NODE}/events/#"])
    try:
        await watcher.until(lambda w: w.latest(lambda t: t == f"{BASE}/recording"), what="the recording state")
        assert watcher.latest()[f"{BASE}/recording"].json()["recording"] is False

        await _publish(broker, f"{BASE}/recording/set", "ON")
        await watcher.until(lambda w: (m := w.latest().get(f"{BASE}/recording")) and m.json()["recording"] is True,
                            timeout=30, what="recording on")
        await _publish(broker, f"{BASE}/recording/set", "OFF")
        await watcher.until(lambda w: (m := w.latest().get(f"{BASE}/recording")) and m.json()["recording"] is False,
                            timeout=30, what="recording off")

        stills_before = len([m for m in watcher.messages if m.topic.endswith("/still")])
        await _publish(broker, f"{BASE}/snapshot/press", "PRESS")
        (taken,) = await watcher.until(
            lambda w: [m for m in w.messages if m.topic == f"{PREFIX}/{NODE}/events/snapshot.taken"][:1],
            timeout=30, what="the snapshot.taken event")
        event = taken.json()
        assert event["device"] == CAMERA
        snapshot = live.config.media.snapshots_dir / event["filename"]
        stream = await _decodes_as_jpeg(snapshot.read_bytes(), tmp_path, "snapshot.jpg")
        assert stream["codec_name"] == "mjpeg"
        fresh = await watcher.until(
            lambda w: [m for m in w.messages if m.topic.endswith("/still")][stills_before:],
            timeout=30, what="a fresh still after the snapshot")
        await _decodes_as_jpeg(fresh[-1].payload, tmp_path, "fresh.jpg")
    finally:
        await watcher.stop()
