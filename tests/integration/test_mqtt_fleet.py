"""A fleet: three ``twistd camservice`` processes, each with its own data
folder, ports, virtual camera and node id, on one real Mosquitto. One
subscriber sees every node's cameras from the broker alone, and a
JSON-RPC request over MQTT 5 reaches the node it is addressed to and no
other."""
from __future__ import annotations

import json
import secrets
import sys

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from helpers.broker import request, start_broker, watch
from helpers.processes import free_port, media_port_env, run, start_twistd, wait_for_http


ADMIN = [sys.executable, "-m", "camservice.admin"]
PREFIX = "camservice"
NODES = ("fleet-a", "fleet-b", "fleet-c")


def _camera(index: int) -> str:
    return f"camera{1000 + index}"


def _env(tmp_path, index: int, node: str, broker) -> dict:
    folder = tmp_path / node
    folder.mkdir()
    password = folder / "mqtt-password"
    password.write_text(broker.users["camservice"] + "\n")
    password.chmod(0o600)
    port = free_port()
    env = {
        "CAMSERVICE_DATA_DIR": str(folder / "state"),
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",  # never the machine's own cameras
        "CAMSERVICE_CAMERAS__DECLARED": json.dumps([
            {"id": _camera(index), "kind": "virtual", "name": f"Pattern of {node}", "resolution": "320x240", "fps": 10}
        ]),
        "CAMSERVICE_MQTT__ENABLED": "true",
        "CAMSERVICE_MQTT__HOST": "127.0.0.1",
        "CAMSERVICE_MQTT__PORT": str(broker.port),
        "CAMSERVICE_MQTT__NODE_ID": node,
        "CAMSERVICE_MQTT__USERNAME": "camservice",
        "CAMSERVICE_MQTT__PASSWORD_FILE": str(password),
        "CAMSERVICE_MQTT__RECONNECT__INITIAL_DELAY": "0.2",
        "CAMSERVICE_MQTT__RECONNECT__MAX_DELAY": "1",
        # stills cost an FFmpeg run each; the fleet view does not need them
        "CAMSERVICE_MQTT__HOMEASSISTANT__ENABLED": "false",
    }
    env.update(media_port_env())
    return env


async def _token(env: dict, role: str) -> str:
    code, out, err = await run(reactor, ADMIN + ["token", "--role", role], env=env)
    assert code == 0, err
    return out.strip().splitlines()[-1]


async def _rpc(broker, node: str, method: str, params: dict, token: str, watcher=None):
    """One request to ``node`` over MQTT 5; (reply, correlation data)."""
    correlation = secrets.token_hex(8).encode()
    # the node answers only under its own rpc/response/
    response_topic = f"{PREFIX}/{node}/rpc/response/fleet-tests/{secrets.token_hex(6)}"
    payload = json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).encode()
    code, answer, corr, err = await request(
        reactor, broker, f"{PREFIX}/{node}/rpc", payload, response_topic, correlation,
        user_properties={"authorization": f"Bearer {token}"},
    )
    assert code == 0, err
    return json.loads(answer), corr, correlation, response_topic


@pytest.fixture
def fleet(tmp_path, clean_env):
    """(broker, {node: (env, child)}): three nodes up and connected."""
    broker = pytest_twisted.blockon(defer.ensureDeferred(start_broker(reactor, tmp_path / "broker")))
    nodes = {}
    try:
        for index, node in enumerate(NODES):
            env = _env(tmp_path, index, node, broker)
            nodes[node] = (env, start_twistd(reactor, env=env))
        for node, (env, child) in nodes.items():
            url = f"http://127.0.0.1:{env['CAMSERVICE_SERVER__PORT']}/health/alive"
            pytest_twisted.blockon(defer.ensureDeferred(wait_for_http(reactor, url, child, timeout=60)))
        yield broker, nodes
    finally:
        for node, (env, child) in nodes.items():
            pytest_twisted.blockon(defer.ensureDeferred(child.stop()))
        pytest_twisted.blockon(defer.ensureDeferred(broker.stop()))
        for node, (env, child) in nodes.items():
            assert "Traceback" not in child.stdout + child.stderr, (node, child.stderr[-4000:])


@pytest_twisted.ensureDeferred
async def test_one_subscriber_sees_every_nodes_cameras(fleet):
    broker, nodes = fleet
    # as a fleet view does it: the retained state alone, from any client
    watcher = watch(reactor, broker, [f"{PREFIX}/+/cameras/+/state", f"{PREFIX}/+/availability"])
    try:
        def everything(w):
            states = w.latest(lambda t: t.endswith("/state"))
            online = {t for t, m in w.latest(lambda t: t.endswith("/availability")).items() if m.payload == b"online"}
            return len(states) == 3 and len(online) == 3 and states

        states = await watcher.until(everything, timeout=60, what="three nodes' cameras and availability")
        seen = {}
        for topic, message in states.items():
            _, node, _, camera_id, _ = topic.split("/")
            camera = message.json()
            assert camera["device"] == camera_id
            seen[node] = (camera_id, camera["name"], camera["status"])
        assert {node: seen[node][:2] for node in seen} == {
            node: (_camera(i), f"Pattern of {node}") for i, node in enumerate(NODES)
        }
        assert all(status in ("CONNECTED", "DISCONNECTED", "ERROR") for _, _, status in seen.values())
    finally:
        await watcher.stop()
    # a viewer arriving later gets the same from the broker's retained store
    late = watch(reactor, broker, [f"{PREFIX}/+/cameras/+/state"])
    try:
        retained = await late.until(lambda w: len(w.latest()) == 3 and w.latest(), what="three retained states")
        assert all(m.retained for m in retained.values())
        assert {t.split("/")[1] for t in retained} == set(NODES)
    finally:
        await late.stop()


@pytest_twisted.ensureDeferred
async def test_a_command_reaches_the_right_node_only(fleet, tmp_path):
    broker, nodes = fleet
    target = "fleet-b"
    env_b, _ = nodes[target]
    others = [n for n in NODES if n != target]
    events = watch(reactor, broker, [f"{PREFIX}/+/events/#", f"{PREFIX}/+/rpc/response/#"])
    try:
        await events.ready(broker, f"{PREFIX}/probe/rpc/response/probe")
        # wait until every node answers on its own rpc topic (its session is up)
        tokens = {node: await _token(env, "operator") for node, (env, _) in nodes.items()}
        for node in NODES:
            reply, corr, correlation, _ = await _rpc(broker, node, "ping", {}, tokens[node])
            assert reply["result"] == "pong" and corr == correlation

        # a read: answered by fleet-b, with fleet-b's camera, the correlation data echoed
        reply, corr, correlation, response_topic = await _rpc(broker, target, "get_camera_list", {}, tokens[target])
        assert corr == correlation
        assert [c["device"] for c in reply["result"]["cameras"]] == [_camera(NODES.index(target))]
        assert [c["name"] for c in reply["result"]["cameras"]] == [f"Pattern of {target}"]
        replies = await events.until(lambda w: [m for m in w.messages if m.topic == response_topic])
        # exactly one answer: the other nodes did not take a request not theirs
        assert len(replies) == 1

        # an action: only fleet-b takes the snapshot
        camera_b = _camera(NODES.index(target))
        reply, corr, correlation, response_topic = await _rpc(
            broker, target, "take_snapshot", {"device": camera_b}, tokens[target])
        assert corr == correlation
        assert reply.get("result", {}).get("status") == "SUCCESS", reply
        snapshot = (tmp_path / target / "state" / "snapshots" / reply["result"]["filename"])
        assert snapshot.is_file() and snapshot.read_bytes()[:2] == b"\xff\xd8"
        taken = await events.until(
            lambda w: [m for m in w.messages if m.topic.endswith("/events/snapshot.taken")], what="snapshot.taken")
        assert {m.topic.split("/")[1] for m in taken} == {target}
        for node in others:
            folder = tmp_path / node / "state" / "snapshots"
            assert not (folder.is_dir() and any(folder.iterdir())), node

        # one node's credential is nothing to another node (its own secret)
        reply, corr, correlation, _ = await _rpc(broker, others[0], "get_camera_list", {}, tokens[target])
        assert corr == correlation
        assert reply["error"]["code"] == -32001, reply
    finally:
        await events.stop()
