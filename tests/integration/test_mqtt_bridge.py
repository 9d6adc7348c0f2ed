"""The MQTT bridge against a real Mosquitto (password file, the example
ACL of conf/) and the real service with MediaMTX and a virtual camera:
retained state and availability, cameras added and removed, JSON-RPC over
MQTT 5 with the WebSocket's results and errors, the broker restarted, a
reload of the mqtt section, and the will of a node killed with SIGKILL."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import pytest_twisted
import treq
import yaml
from twisted.internet import defer, reactor, task

from camservice.codec import dumps
from helpers.broker import start_broker
from helpers.mqttpeer import connect_peer
from helpers.processes import free_port, media_port_env, start_twistd, wait_for_http

ACL = (Path(__file__).resolve().parents[2] / "conf" / "mosquitto-acl.example").read_text()
USERS = ("node-a", "node-b", "operator-console", "fleet", "homeassistant")
BASE = "camservice/node-a"


@pytest.fixture(autouse=True)
def mqtt_log(log_events):
    """The bridge's log lines, shown when a test fails."""
    from twisted.logger import formatEvent

    events = log_events("camservice.mqtt")
    yield events
    for event in events:
        print(event.get("log_namespace"), formatEvent(event), event.get("log_failure") or "")


@pytest.fixture
def broker(tmp_path):
    b = pytest_twisted.blockon(defer.ensureDeferred(start_broker(reactor, tmp_path / "broker", USERS, acl=ACL)))
    yield b
    pytest_twisted.blockon(defer.ensureDeferred(b.stop()))


def _password_file(folder: Path, broker, user: str) -> Path:
    path = folder / f"{user}.password"
    path.write_text(broker.users[user] + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def service_settings(broker, tmp_path):
    return {"mqtt": {
        "enabled": True, "host": "127.0.0.1", "port": broker.port, "node_id": "node-a", "username": "node-a",
        "password_file": str(_password_file(tmp_path, broker, "node-a")), "keepalive": 5,
        "coalesce_delay": 0.1, "reconnect": {"initial_delay": 0.2, "max_delay": 1},
        "homeassistant": {"still_interval": 0},
    }}


@pytest.fixture
def peers(broker):
    made = []

    async def peer(user="operator-console"):
        p = await connect_peer(reactor, broker, user)
        made.append(p)
        return p

    yield peer
    for p in made:
        p.stop()


async def _until(check, timeout=30.0, what="condition", live=None):
    deadline = reactor.seconds() + timeout
    while True:
        value = check()
        if value:
            return value
        assert reactor.seconds() < deadline, f"{what} not reached in {timeout} s" + (
            f"; bridge: {_describe(live)}" if live is not None else "")
        await task.deferLater(reactor, 0.05, lambda: None)


def _describe(live) -> str:
    client = _bridge(live).client
    if client is None:
        return "no client"
    paho = client._client
    return (f"state {client.state} ({client.detail}), descriptor {client._descriptor is not None}, "
            f"paho {paho is not None and paho.socket() is not None} "
            f"want_write {paho is not None and paho.want_write()} registered {getattr(paho, '_registered_write', '?')}")


def _payload(peer, topic):
    m = peer.latest(topic)
    return None if m is None else m.payload


def _bridge(live):
    return live.tree.getServiceNamed("mqtt")


def _edit(live, change) -> None:
    path = Path(live.config.source)
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


async def _rpc(peer, method, params=None, token=None, correlation=b"c-1", node="node-a", in_params=False, msg_id=7):
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": dict(params or {})}
    props = {}
    if token is not None and in_params:
        message["params"]["auth_token"] = token
    elif token is not None:
        props["authorization"] = f"Bearer {token}"
    answer = await peer.request(f"camservice/{node}/rpc", dumps(message),
                                f"camservice/{node}/rpc/response/operator-console/t", correlation, props)
    return json.loads(answer.payload)


@pytest_twisted.ensureDeferred
async def test_state_and_availability_are_retained_and_match_the_api(live, peers):
    await _until(lambda: _bridge(live).state == "connected", what="bridge connected")
    health = await treq.get(f"{live.http}/health/mqtt")
    assert health.code == 200 and (await health.json())["status"] == "connected"
    client = await live.authed_client("viewer")
    camera = (await client.call("get_camera_list"))["result"]["cameras"][0]
    # a subscriber arriving later gets the retained state
    fleet = await peers("fleet")
    await fleet.subscribe("camservice/+/availability", "camservice/+/cameras/+/state", "camservice/+/cameras/+/recording")
    state = await fleet.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state"), what="retained state")
    assert state.retain and json.loads(state.payload) == camera
    assert fleet.latest(f"{BASE}/availability").payload == b"online"
    assert fleet.latest(f"{BASE}/availability").retain
    recording = await fleet.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/recording"))
    assert json.loads(recording.payload) == {"recording": False}
    # nothing is published again while nothing changes
    before = len(fleet.messages)
    await task.deferLater(reactor, 1.0, lambda: None)
    assert len(fleet.messages) == before
    metrics = await treq.get(f"{live.http}/metrics", headers={"Authorization": f"Bearer {live.token('admin')}"})
    text = (await metrics.text())
    assert 'camservice_mqtt_state{state="connected"} 1.0' in text
    assert "camservice_mqtt_messages_published_total" in text
    await client.close()


@pytest_twisted.ensureDeferred
async def test_recording_state_follows_start_and_stop(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    watcher = await peers("operator-console")
    await watcher.subscribe(f"{BASE}/cameras/camera1000/recording", f"{BASE}/events/#")
    client = await live.authed_client("operator")
    started = await client.call("start_recording", {"device": "camera1000"})
    assert "result" in started, started

    def recording_is(value):
        m = watcher.latest(f"{BASE}/cameras/camera1000/recording")
        return m is not None and json.loads(m.payload)["recording"] is value and json.loads(m.payload)

    try:
        on = await watcher.until(lambda p: recording_is(True), what="recording: true")
    except AssertionError as e:
        raise AssertionError(f"{e}; bridge: {_describe(live)}")
    assert on["filename"] == started["result"]["filename"] and on["started_at"]
    assert await watcher.until(lambda p: p.on(f"{BASE}/events/recording_status_update"))
    stopped = await client.call("stop_recording", {"device": "camera1000"})
    assert "result" in stopped, stopped
    off = await watcher.until(lambda p: recording_is(False), timeout=60, what="recording: false")
    assert off["filename"] == started["result"]["filename"] and off["status"] == "STOPPED"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_camera_added_and_removed_shows_up_and_disappears(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    admin = await live.authed_client("admin")
    watcher = await peers("fleet")
    await watcher.subscribe("camservice/+/cameras/+/state")
    added = {"id": "camera1001", "kind": "virtual", "name": "Second", "resolution": "320x240", "fps": 5}
    _edit(live, lambda d: d["cameras"].update(declared=[d["cameras"]["declared"][0], added]))
    assert (await admin.call("reload_config"))["result"]["status"] == "applied"
    shown = await watcher.until(lambda p: p.latest(f"{BASE}/cameras/camera1001/state"), what="camera1001 shown")
    assert json.loads(shown.payload)["name"] == "Second"
    _edit(live, lambda d: d["cameras"].update(declared=[d["cameras"]["declared"][0]]))
    assert (await admin.call("reload_config"))["result"]["status"] == "applied"
    await watcher.until(lambda p: p.on(f"{BASE}/cameras/camera1001/state")[-1].payload == b"", what="cleared")
    # a subscriber arriving now finds no trace of it, and camera1000 still
    late = await peers("fleet")
    await late.subscribe("camservice/+/cameras/+/state")
    await late.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state"))
    await task.deferLater(reactor, 0.5, lambda: None)
    assert late.latest(f"{BASE}/cameras/camera1001/state") is None
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_a_request_is_answered_with_its_correlation_data_and_the_websocket_result(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    console = await peers("operator-console")
    token = live.token("operator")
    answer = await _rpc(console, "get_camera_list", token=token, correlation=b"\x00corr-1\xff")
    ws = await live.authed_client("operator")
    expected = (await ws.call("get_camera_list"))["result"]
    assert answer["id"] == 7 and answer["result"] == expected
    # the correlation data came back byte for byte
    assert console.on(f"{BASE}/rpc/response/operator-console/t")[-1].correlation == b"\x00corr-1\xff"
    # a token in params works the same; an API key in x-api-key too
    answer = await _rpc(console, "get_camera_status", {"device": "camera1000"}, token=token, in_params=True,
                        correlation=b"c-2")
    assert answer["result"]["device"] == "camera1000"
    # no credential: the WebSocket's -32001
    answer = await _rpc(console, "get_camera_list", correlation=b"c-3")
    assert answer["error"]["code"] == -32001
    await ws.close()


@pytest_twisted.ensureDeferred
async def test_a_viewer_is_refused_an_operator_method_as_on_the_websocket(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    console = await peers("operator-console")
    token = live.token("viewer")
    answer = await _rpc(console, "start_recording", {"device": "camera1000"}, token=token, correlation=b"v-1")
    ws = await live.connect()
    expected = await ws.call("start_recording", {"device": "camera1000", "auth_token": token})
    assert answer["error"]["code"] == expected["error"]["code"] == -32002
    assert answer["error"]["data"] == expected["error"]["data"]
    # a camera outside the allow list: refused the same way
    limited = live.token("operator", cameras=["camera5"])
    answer = await _rpc(console, "get_camera_status", {"device": "camera1000"}, token=limited, correlation=b"v-2")
    assert answer["error"]["code"] == -32002
    assert not live.tree.getServiceNamed("recordings").recording()
    await ws.close()


@pytest_twisted.ensureDeferred
async def test_a_request_without_response_topic_is_not_executed(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    console = await peers("operator-console")
    counter = _bridge(live)._metrics.rpc.labels("no_response_topic")
    before = counter._value.get()
    console.publish(f"{BASE}/rpc", dumps({"jsonrpc": "2.0", "id": 1, "method": "start_recording",
                                          "params": {"device": "camera1000", "auth_token": live.token("operator")}}))
    await _until(lambda: counter._value.get() > before, what="request counted")
    assert not live.tree.getServiceNamed("recordings").recording()


@pytest_twisted.ensureDeferred
async def test_broker_restart_reconnects_and_republishes_while_the_api_works(live, peers, broker):
    await _until(lambda: _bridge(live).state == "connected")
    ws = await live.authed_client("viewer")
    await broker.child.stop(timeout=5)
    await _until(lambda: _bridge(live).state == "connecting", what="bridge noticed", live=live)
    # the rest of the service carries on
    for _ in range(3):
        assert "result" in await ws.call("get_camera_list")
    health = await treq.get(f"{live.http}/health/mqtt")
    assert health.code == 503 and (await health.json())["status"] == "connecting"
    ready = await treq.get(f"{live.http}/health/ready")
    assert ready.code == 200
    # the same broker again, without the retained messages it had
    await broker.restart()
    fleet = await peers("fleet")
    await fleet.subscribe("camservice/+/availability", "camservice/+/cameras/+/state")
    await fleet.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state"), what="state republished")
    await fleet.until(lambda p: _payload(p, f"{BASE}/availability") == b"online")
    # published again as retained: a subscriber arriving now gets it
    late = await peers("fleet")
    await late.subscribe("camservice/+/availability", "camservice/+/cameras/+/state")
    state = await late.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state"))
    assert state.retain and json.loads(state.payload)["device"] == "camera1000"
    assert late.latest(f"{BASE}/availability").retain
    assert "result" in await ws.call("get_camera_list")
    await ws.close()


@pytest_twisted.ensureDeferred
async def test_reloading_the_mqtt_section_moves_the_node(live, peers, broker, tmp_path):
    await _until(lambda: _bridge(live).state == "connected")
    fleet = await peers("fleet")
    await fleet.subscribe("camservice/+/availability")
    await fleet.until(lambda p: _payload(p, f"{BASE}/availability") == b"online")
    admin = await live.authed_client("admin")
    password = _password_file(tmp_path, broker, "node-b")
    _edit(live, lambda d: d["mqtt"].update(node_id="node-b", username="node-b", password_file=str(password)))
    reply = await admin.call("reload_config")
    assert reply["result"]["status"] == "applied" and reply["result"]["changed"] == ["mqtt"], reply
    await fleet.until(lambda p: _payload(p, "camservice/node-b/availability") == b"online", what="node-b")
    # the old node went offline cleanly
    assert fleet.latest(f"{BASE}/availability").payload == b"offline"
    _edit(live, lambda d: d["mqtt"].update(enabled=False))
    assert (await admin.call("reload_config"))["result"]["status"] == "applied"
    assert _bridge(live).state == "disabled"
    await fleet.until(lambda p: _payload(p, "camservice/node-b/availability") == b"offline")
    await admin.close()


def _twistd_env(tmp_path, port, broker, password):
    env = {
        "CAMSERVICE_DATA_DIR": str(tmp_path / "state"),
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",
        "CAMSERVICE_MQTT__ENABLED": "true",
        "CAMSERVICE_MQTT__HOST": "127.0.0.1",
        "CAMSERVICE_MQTT__PORT": str(broker.port),
        "CAMSERVICE_MQTT__NODE_ID": "node-a",
        "CAMSERVICE_MQTT__USERNAME": "node-a",
        "CAMSERVICE_MQTT__PASSWORD_FILE": str(password),
    }
    env.update(media_port_env())
    return env


@pytest_twisted.ensureDeferred
async def test_the_will_turns_a_killed_node_offline_and_a_clean_stop_too(tmp_path, clean_env, broker, peers):
    port = free_port()
    env = _twistd_env(tmp_path, port, broker, _password_file(tmp_path, broker, "node-a"))
    fleet = await peers("fleet")
    await fleet.subscribe("camservice/+/availability", "camservice/+/cameras/+/state")

    def availability():
        m = fleet.latest(f"{BASE}/availability")
        return m.payload if m is not None else None

    node = start_twistd(reactor, env=env)
    try:
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", node)
        await fleet.until(lambda p: availability() == b"online", what="online")
        await fleet.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state"))
        os.kill(node.pid, signal.SIGKILL)
        assert await node.ended == -signal.SIGKILL
        await fleet.until(lambda p: availability() == b"offline", timeout=15, what="offline by the will")
        # a clean stop says offline itself
        node = start_twistd(reactor, env=env)
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", node)
        await fleet.until(lambda p: availability() == b"online", what="online again")
        assert await node.stop() == 0, node.stdout + node.stderr
        assert availability() == b"offline"
        # said by the node itself, then a clean DISCONNECT (no will)
        assert "Client camservice-node-a disconnected." in broker.log(), broker.log()
    finally:
        await node.stop()


@pytest_twisted.ensureDeferred
async def test_home_assistant_finds_the_camera_and_its_switch_button_and_stills_work(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    ha = await peers("homeassistant")
    camera = f"{BASE}/cameras/camera1000"
    await ha.subscribe("homeassistant/#", f"{camera}/still", f"{camera}/recording")

    def camera_configs(p):
        found = [m for m in p.messages if m.topic.endswith("/config") and "camera1000" in m.topic and m.payload]
        return found if len(found) >= 4 else None

    configs = await ha.until(camera_configs, what="discovery configs")
    kinds = {m.topic.split("/")[1] for m in configs}
    assert {"camera", "binary_sensor", "switch", "button"} <= kinds
    assert all(m.retain for m in configs)
    ha.publish("homeassistant/status", b"online")
    ha.publish(f"{camera}/recording/set", b"ON")

    def recording():
        m = ha.latest(f"{camera}/recording")
        return m is not None and json.loads(m.payload)["recording"]

    await ha.until(lambda p: recording() is True, what="recording from the switch")
    ha.publish(f"{camera}/recording/set", b"OFF")
    await ha.until(lambda p: recording() is False, timeout=60, what="stopped from the switch")
    ha.publish(f"{camera}/snapshot/press", b"PRESS")
    still = await ha.until(lambda p: p.latest(f"{camera}/still"), timeout=60, what="a still")
    assert still.payload[:2] == b"\xff\xd8" and still.payload[-2:] == b"\xff\xd9" and not still.retain
    client = await live.authed_client("viewer")
    listed = (await client.call("list_snapshots"))["result"]
    assert listed["total"] >= 1, listed
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_camera_that_went_while_the_node_was_away_is_cleared_from_the_broker(live, peers, broker):
    await _until(lambda: _bridge(live).state == "connected")
    # what an earlier run of this node left retained: a camera gone since
    as_node = await peers("node-a")
    ghost = {"device": "camera1777", "status": "CONNECTED", "name": "Gone", "resolution": "640x480", "fps": 15,
             "streams": {"rtsp": None, "hls": None, "webrtc": None}}
    as_node.publish(f"{BASE}/cameras/camera1777/state", dumps(ghost), retain=True)
    fleet = await peers("fleet")
    await fleet.subscribe("camservice/+/cameras/+/state")
    await fleet.until(lambda p: p.latest(f"{BASE}/cameras/camera1777/state"), what="the ghost retained")
    # a new session of the node (a reload here, a restart in life) clears it
    admin = await live.authed_client("admin")
    _edit(live, lambda d: d["mqtt"].update(keepalive=6))
    assert (await admin.call("reload_config"))["result"]["status"] == "applied"
    await fleet.until(lambda p: p.on(f"{BASE}/cameras/camera1777/state")[-1].payload == b"", what="the ghost cleared")
    late = await peers("fleet")
    await late.subscribe("camservice/+/cameras/+/state")
    await late.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state"))
    assert late.latest(f"{BASE}/cameras/camera1777/state") is None
    await admin.close()
