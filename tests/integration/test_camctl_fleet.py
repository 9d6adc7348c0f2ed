"""``camctl fleet`` against a real Mosquitto started by the test: the
fleet read from retained topics alone (availability and camera states as
the MQTT bridge publishes them), with passwords, an ACL and TLS, on the
paho-mqtt of this virtualenv (2.x from PyPI, 1.6 on Debian 12)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from helpers import mosquitto
from helpers.certs import CertificateAuthority
from helpers.processes import free_port, run

pytestmark = pytest.mark.skipif(mosquitto.available() is not None, reason=mosquitto.available() or "")

CAMCTL = str(Path(sys.executable).parent / "camctl")
CA = CertificateAuthority()


def _camera(device: str, status: str = "CONNECTED", name: str = "Pattern", resolution: str = "320x240") -> str:
    return json.dumps({
        "device": device, "status": status, "name": name, "resolution": resolution, "fps": 10,
        "streams": {"rtsp": f"rtsp://127.0.0.1:8554/{device}", "hls": None, "webrtc": None},
    })


@pytest.fixture(scope="module")
def broker():
    """Anonymous broker holding a small fleet's retained state."""
    with mosquitto.start(free_port()) as b:
        b.publish("camservice/node-a/availability", "online")
        b.publish("camservice/node-a/cameras/camera1000/state", _camera("camera1000", name="Front door"))
        b.publish("camservice/node-a/cameras/camera2/state", _camera("camera2", name="Desk", resolution="1280x720"))
        b.publish("camservice/node-a/cameras/camera2/recording", json.dumps({"status": "RECORDING"}))
        b.publish("camservice/node-b/availability", "offline")
        b.publish("camservice/node-b/cameras/camera0/state", _camera("camera0", status="DISCONNECTED", name="Lab"))
        # a camera that went away: its retained state cleared
        b.publish("camservice/node-c/availability", "online")
        b.publish("camservice/node-c/cameras/camera7/state", _camera("camera7"))
        b.publish("camservice/node-c/cameras/camera7/state", None)
        # garbage is reported, not fatal
        b.publish("camservice/node-d/cameras/camera1/state", "{not json")
        # another prefix, and an event (not retained): neither is part of the fleet
        b.publish("site2/node-x/availability", "online")
        b.publish("site2/node-x/cameras/camera3/state", _camera("camera3", name="Gate"))
        b.publish("camservice/node-a/events/camera.connected", _camera("camera9"), retain=False)
        yield b


async def fleet(*argv):
    return await run(reactor, [CAMCTL, "fleet", *argv], timeout=60)


@pytest_twisted.ensureDeferred
async def test_every_nodes_cameras_from_the_retained_topics(broker):
    code, out, err = await fleet("--broker", f"127.0.0.1:{broker.port}", "--json")
    assert code == 0, err
    document = json.loads(out)
    nodes = {n["node"]: n for n in document["nodes"]}
    assert sorted(nodes) == ["node-a", "node-b", "node-c", "node-d"]
    assert nodes["node-a"]["availability"] == "online"
    assert [c["device"] for c in nodes["node-a"]["cameras"]] == ["camera2", "camera1000"]
    assert nodes["node-a"]["cameras"][1] == json.loads(_camera("camera1000", name="Front door"))
    assert nodes["node-b"]["availability"] == "offline"
    assert nodes["node-b"]["cameras"][0]["status"] == "DISCONNECTED"
    assert nodes["node-c"] == {"node": "node-c", "availability": "online", "cameras": []}
    assert nodes["node-d"] == {"node": "node-d", "availability": "unknown", "cameras": []}
    assert document["total_nodes"] == 4 and document["total_cameras"] == 3
    assert document["warnings"] == ["camservice/node-d/cameras/camera1/state: not JSON, left out"]
    assert "not JSON" in err


@pytest_twisted.ensureDeferred
async def test_the_table_and_another_prefix(broker):
    code, out, err = await fleet("--broker", f"127.0.0.1:{broker.port}")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NODE", "AVAILABILITY", "CAMERA", "STATUS", "NAME", "RESOLUTION"]
    assert lines[1].split() == ["node-a", "online", "camera2", "CONNECTED", "Desk", "1280x720"]
    assert lines[2].split()[:3] == ["node-a", "online", "camera1000"]
    assert lines[2].index("CONNECTED") == lines[0].index("STATUS")
    assert lines[3].split() == ["node-b", "offline", "camera0", "DISCONNECTED", "Lab", "320x240"]
    assert lines[-1] == "4 node(s), 2 online, 3 camera(s)"
    code, out, err = await fleet("--broker", f"127.0.0.1:{broker.port}", "--prefix", "site2", "--json")
    document = json.loads(out)
    assert [(n["node"], [c["name"] for c in n["cameras"]]) for n in document["nodes"]] == [("node-x", ["Gate"])]


@pytest_twisted.ensureDeferred
async def test_no_broker_is_a_connection_failure():
    code, out, err = await fleet("--broker", f"127.0.0.1:{free_port()}")
    assert code == 3 and "cannot connect to the broker" in err
    code, out, err = await fleet("--broker", "127.0.0.1:notaport")
    assert code == 2


@pytest_twisted.ensureDeferred
async def test_passwords_and_the_acl(tmp_path):
    users = {"reader": "r-secret", "bridge": "b-secret", "stranger": "s-secret"}
    passwords = mosquitto.write_password_file(tmp_path / "passwd", users)
    acl = tmp_path / "acl"
    acl.write_text("user reader\ntopic read camservice/#\nuser bridge\ntopic readwrite camservice/#\n")
    for user, password in users.items():
        (tmp_path / user).write_text(password + "\n")
    (tmp_path / "wrong").write_text("not-the-password\n")
    with mosquitto.start(free_port(), password_file=passwords, acl_file=acl) as b:
        b.publish("camservice/node-a/availability", "online", username="bridge", password="b-secret")
        b.publish("camservice/node-a/cameras/camera0/state", _camera("camera0"), username="bridge", password="b-secret")
        where = f"127.0.0.1:{b.port}"
        code, out, err = await fleet("--broker", where, "--username", "reader", "--password-file",
                                     str(tmp_path / "reader"), "--json")
        assert code == 0, err
        assert [c["device"] for c in json.loads(out)["nodes"][0]["cameras"]] == ["camera0"]
        # refused credentials: 4
        code, out, err = await fleet("--broker", where, "--username", "reader", "--password-file", str(tmp_path / "wrong"))
        assert code == 4 and "refused the connection" in err
        code, out, err = await fleet("--broker", where)
        assert code == 4
        # the ACL is the second fence: a user it gives nothing sees no fleet
        code, out, err = await fleet("--broker", where, "--username", "stranger", "--password-file",
                                     str(tmp_path / "stranger"), "--json")
        assert code == 0, err
        assert json.loads(out)["nodes"] == []
        # a password file that cannot be read is a usage error
        code, out, err = await fleet("--broker", where, "--username", "reader", "--password-file", str(tmp_path / "nope"))
        assert code == 2 and "password file" in err


@pytest_twisted.ensureDeferred
async def test_tls_with_a_ca_file(tmp_path):
    cert, key = CA.server().write(tmp_path, "broker")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(CA.cert_pem)
    tls = [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
    with mosquitto.start(free_port(), extra_conf_lines=tls) as b:
        # mosquitto_pub over TLS too
        argv = mosquitto.publish_argv(b.port, "camservice/node-t/availability", "online") + ["--cafile", str(ca)]
        code, _out, err = await run(reactor, argv)
        assert code == 0, err
        code, out, err = await fleet("--broker", f"127.0.0.1:{b.port}", "--ca-file", str(ca), "--json")
        assert code == 0, err
        assert json.loads(out)["nodes"] == [{"node": "node-t", "availability": "online", "cameras": []}]
        # trusting another CA: the broker's certificate is refused
        other = tmp_path / "other.pem"
        other.write_bytes(CertificateAuthority("someone else").cert_pem)
        code, out, err = await fleet("--broker", f"127.0.0.1:{b.port}", "--ca-file", str(other))
        assert code == 3 and "certificate" in err.lower()
