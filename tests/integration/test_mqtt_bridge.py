"""The MQTT bridge against a real Mosquitto (password file, the example
ACL of conf/) and the real service with MediaMTX and a virtual camera:
retained state and availability, cameras added and removed (with their
Home Assistant entities, and nothing of them kept by the node), events
under the API's topics, JSON-RPC over MQTT 5 with the WebSocket's results
and errors (a JWT or an API key), answers refused outside the node's
rpc/response/, no stream token on the broker, Home Assistant's birth
heard through the ACL, the broker restarted, a reload of the mqtt
section, and the will of a node killed with SIGKILL."""
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

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.roles import Role
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
def service_settings(request, broker, tmp_path):
    """The node on the broker; a test's indirect parameter adds sections
    (``{"streams": {...}}``) or Home Assistant settings (``{"homeassistant": {...}}``)."""
    extra = dict(getattr(request, "param", {}))
    settings = {"mqtt": {
        "enabled": True, "host": "127.0.0.1", "port": broker.port, "node_id": "node-a", "username": "node-a",
        "password_file": str(_password_file(tmp_path, broker, "node-a")), "keepalive": 5,
        "coalesce_delay": 0.1, "reconnect": {"initial_delay": 0.2, "max_delay": 1},
        "homeassistant": {"still_interval": 0, **extra.pop("homeassistant", {})},
    }}
    settings.update(extra)
    return settings


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


def p_first(peer, topic) -> bytes:
    return peer.on(topic)[0].payload


def _bridge(live):
    return live.tree.getServiceNamed("mqtt")


def _edit(live, change) -> None:
    path = Path(live.config.source)
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


async def _rpc(peer, method, params=None, token=None, correlation=b"c-1", node="node-a", in_params=False, msg_id=7,
               api_key=None):
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": dict(params or {})}
    props = {}
    if token is not None and in_params:
        message["params"]["auth_token"] = token
    elif token is not None:
        props["authorization"] = f"Bearer {token}"
    if api_key is not None:
        props["x-api-key"] = api_key
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
    # under the API's topic too, with the same params
    (start,) = await watcher.until(lambda p: p.on(f"{BASE}/events/recording.start"), what="events/recording.start")
    assert json.loads(start.payload) == json.loads(p_first(watcher, f"{BASE}/events/recording_status_update"))
    assert json.loads(start.payload)["status"] == "STARTED" and not start.retain
    stopped = await client.call("stop_recording", {"device": "camera1000"})
    assert "result" in stopped, stopped
    off = await watcher.until(lambda p: recording_is(False), timeout=60, what="recording: false")
    assert off["filename"] == started["result"]["filename"] and off["status"] == "STOPPED"
    (stop,) = await watcher.until(lambda p: p.on(f"{BASE}/events/recording.stop"), what="events/recording.stop")
    assert json.loads(stop.payload)["status"] == "STOPPED"
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


def _configs_of(peer, camera_id: str, since: int = 0) -> list:
    """Discovery configs (not removals) of ``camera_id`` seen since message ``since``."""
    return [m for m in peer.messages[since:] if m.topic.startswith("homeassistant/") and m.topic.endswith("/config")
            and f"/{camera_id}_" in m.topic and m.payload]


@pytest_twisted.ensureDeferred
async def test_an_api_key_in_x_api_key_runs_a_command_and_a_viewers_key_is_refused(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    console = await peers("operator-console")
    store = ApiKeyStore(live.config.auth.api_keys_file, reactor)
    operator_key, _ = store.add(Role.operator, name="mqtt console")
    viewer_key, _ = store.add(Role.viewer, name="mqtt dashboard")
    answer = await _rpc(console, "take_snapshot", {"device": "camera1000"}, api_key=operator_key, correlation=b"k-1")
    assert answer.get("result", {}).get("status") == "SUCCESS", answer
    snapshot = live.config.media.snapshots_dir / answer["result"]["filename"]
    assert snapshot.read_bytes()[:2] == b"\xff\xd8"
    answer = await _rpc(console, "take_snapshot", {"device": "camera1000"}, api_key=viewer_key, correlation=b"k-2")
    assert answer["error"]["code"] == -32002, answer
    answer = await _rpc(console, "take_snapshot", {"device": "camera1000"}, api_key="no-such-key", correlation=b"k-3")
    assert answer["error"]["code"] == -32001, answer
    assert len(list(live.config.media.snapshots_dir.iterdir())) == 1


@pytest_twisted.ensureDeferred
async def test_a_request_answering_outside_the_nodes_rpc_response_is_refused(live, peers, mqtt_log):
    from camservice.mqtt import compat

    await _until(lambda: _bridge(live).state == "connected")
    state_topic = f"{BASE}/cameras/camera1000/state"
    fleet = await peers("fleet")
    await fleet.subscribe(state_topic)
    state = await fleet.until(lambda p: p.latest(state_topic), what="the retained state")
    console = await peers("operator-console")
    counter = _bridge(live)._metrics.rpc.labels("bad_response_topic")
    before = counter._value.get()
    # the node may write its own state topic: the broker alone would let it
    props = compat.Properties(compat.PacketTypes.PUBLISH)
    props.ResponseTopic = state_topic
    props.CorrelationData = b"hijack"
    props.UserProperty = ("authorization", f"Bearer {live.token('operator')}")
    console.publish(f"{BASE}/rpc", dumps({"jsonrpc": "2.0", "id": 1, "method": "take_snapshot",
                                          "params": {"device": "camera1000"}}), properties=props)
    await _until(lambda: counter._value.get() > before, what="the request refused")
    (refused,) = [e for e in mqtt_log if e.get("log_format", "").startswith("MQTT: a request answering")]
    assert refused["response_topic"] == state_topic and BASE + "/rpc/response/" in refused["problem"]
    await task.deferLater(reactor, 0.5, lambda: None)
    assert fleet.on(state_topic) == [state]  # nothing written over it
    snapshots = live.config.media.snapshots_dir
    assert not (snapshots.is_dir() and any(snapshots.iterdir()))  # not run
    # the same request with a response topic of its own is answered
    answer = await _rpc(console, "ping", correlation=b"ok")
    assert answer["result"] == "pong"


@pytest.mark.parametrize("service_settings", [{"streams": {"signed_urls": True}}], indirect=True)
@pytest_twisted.ensureDeferred
async def test_no_stream_token_is_left_on_the_broker(live, peers):
    from urllib.parse import parse_qs, urlsplit

    await _until(lambda: _bridge(live).state == "connected")
    ha = await peers("homeassistant")
    await ha.subscribe("camservice/+/availability", "camservice/+/cameras/#", "camservice/+/events/#",
                       "homeassistant/#")
    fleet = await peers("fleet")
    await fleet.subscribe("camservice/+/availability", "camservice/+/cameras/+/state")
    client = await live.authed_client("viewer")
    camera = (await client.call("get_camera_list"))["result"]["cameras"][0]
    token = parse_qs(urlsplit(camera["streams"]["rtsp"]).query)["token"][0]
    assert len(token) > 10
    state = await fleet.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state"), what="the retained state")
    unsigned = {name: url.split("?", 1)[0] if url else url for name, url in camera["streams"].items()}
    assert json.loads(state.payload) == {**camera, "streams": unsigned}
    # a change: the state and its events again, still without
    admin = await live.authed_client("admin")
    _edit(live, lambda d: d["cameras"]["declared"][0].update(name="Renamed"))
    assert (await admin.call("reload_config"))["result"]["status"] == "applied"
    change = await ha.until(lambda p: p.on(f"{BASE}/events/camera.status_change"), what="events/camera.status_change")
    assert json.loads(change[-1].payload)["name"] == "Renamed"
    await fleet.until(lambda p: json.loads(p.latest(f"{BASE}/cameras/camera1000/state").payload)["name"] == "Renamed")
    for m in ha.messages + fleet.messages:
        assert b"token" not in m.payload and token.encode() not in m.payload, (m.topic, m.payload[:300])
    # the API still signs them: over MQTT too, to the response topic its request named
    console = await peers("operator-console")
    answer = await _rpc(console, "get_camera_list", token=live.token("viewer"), correlation=b"urls")
    assert "?token=" in answer["result"]["cameras"][0]["streams"]["rtsp"]
    await client.close()
    await admin.close()


@pytest.mark.parametrize("service_settings", [{"homeassistant": {"still_interval": 2}}], indirect=True)
@pytest_twisted.ensureDeferred
async def test_home_assistants_birth_and_will_are_heard_through_the_acl(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    camera = f"{BASE}/cameras/camera1000"
    ha = await peers("homeassistant")
    await ha.subscribe("homeassistant/+/node-a/#", f"{camera}/still")

    def configs(p):
        return [m for m in p.messages if m.topic.endswith("/config") and m.payload]

    def stills(p):
        return p.on(f"{camera}/still")

    def heard():
        return f"the node's view of Home Assistant: {_bridge(live).ha._ha_online}"

    await ha.until(lambda p: len(configs(p)) >= 5, what="five discovery configs")
    await ha.until(stills, timeout=60, what="a still")
    # Home Assistant goes (its will): the node hears it and stops the stills
    ha.publish("homeassistant/status", b"offline")
    await task.deferLater(reactor, 1.0, lambda: None)
    count = len(stills(ha))
    await task.deferLater(reactor, 5.0, lambda: None)  # two still intervals and more
    assert len(stills(ha)) <= count + 1, heard()  # at most one under way when it went
    # Home Assistant is back (its birth): every config again, and stills again
    before, settled = len(configs(ha)), len(stills(ha))
    ha.publish("homeassistant/status", b"online")
    try:
        await ha.until(lambda p: len(configs(p)) >= before + 5, timeout=15, what="configs republished")
        await ha.until(lambda p: len(stills(p)) > settled, timeout=30, what="stills resumed")
    except AssertionError as e:
        raise AssertionError(f"{e}; {heard()}") from None
    for m in stills(ha)[settled:]:
        assert m.payload[:2] == b"\xff\xd8" and m.payload[-2:] == b"\xff\xd9" and not m.retain


@pytest_twisted.ensureDeferred
async def test_a_camera_added_and_removed_again_and_again_leaves_nothing_behind(live, peers):
    await _until(lambda: _bridge(live).state == "connected")
    bridge = _bridge(live)
    admin = await live.authed_client("admin")
    ha = await peers("homeassistant")
    await ha.subscribe("homeassistant/+/node-a/#", f"{BASE}/cameras/+/state", f"{BASE}/events/#")
    await ha.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state") and len(_configs_of(p, "camera1000")) >= 4,
                   what="camera1000 and its entities")

    def kept():
        """What the node holds: retained topics, sent payloads, HA configs, Camera objects."""
        return (sorted(bridge.publisher.retained), sorted(bridge.publisher._sent), sorted(bridge.ha._published),
                sorted(bridge._views))

    baseline = kept()
    assert not [t for part in baseline for t in part if "camera1001" in t]
    added = {"id": "camera1001", "kind": "virtual", "name": "Second", "resolution": "320x240", "fps": 5}
    for cycle in range(3):
        mark = len(ha.messages)
        _edit(live, lambda d: d["cameras"].update(declared=[d["cameras"]["declared"][0], added]))
        assert (await admin.call("reload_config"))["result"]["status"] == "applied"
        shown = await ha.until(lambda p: len(_configs_of(p, "camera1001", mark)) >= 4
                               and _configs_of(p, "camera1001", mark), what=f"camera1001's entities (cycle {cycle})")
        entity_topics = {m.topic for m in shown}
        assert {t.split("/")[1] for t in entity_topics} == {"camera", "binary_sensor", "switch", "button"}
        await ha.until(lambda p: p.latest(f"{BASE}/cameras/camera1001/state"), what="camera1001's state")
        _edit(live, lambda d: d["cameras"].update(declared=[d["cameras"]["declared"][0]]))
        assert (await admin.call("reload_config"))["result"]["status"] == "applied"
        # Home Assistant sees each entity's config emptied, and the state go
        # (that the broker keeps them empty: the late subscriber below)
        await ha.until(lambda p: all(p.on(t)[-1].payload == b"" for t in entity_topics),
                       what=f"camera1001's configs emptied (cycle {cycle})")
        await ha.until(lambda p: p.on(f"{BASE}/cameras/camera1001/state")[-1].payload == b"", what="state cleared")
        events = [(m.topic.rsplit("/", 1)[1], json.loads(m.payload)) for m in ha.messages[mark:]
                  if "/events/camera" in m.topic]
        gone = [e for name, e in events if name == "camera.disconnected" and e.get("removed")]
        assert [e["device"] for e in gone] == ["camera1001"], events
        assert {name for name, e in events if e["device"] == "camera1001"} <= {
            "camera.connected", "camera.disconnected", "camera.status_change", "camera_status_update"}
        await _until(lambda: kept() == baseline, what=f"nothing kept of camera1001 (cycle {cycle})")
    # a subscriber arriving now finds no trace of it
    late = await peers("homeassistant")
    await late.subscribe("homeassistant/+/node-a/#", f"{BASE}/cameras/+/state")
    await late.until(lambda p: p.latest(f"{BASE}/cameras/camera1000/state") and len(_configs_of(p, "camera1000")) >= 4)
    await task.deferLater(reactor, 0.5, lambda: None)
    assert not [m.topic for m in late.messages if "camera1001" in m.topic]
    await admin.close()
