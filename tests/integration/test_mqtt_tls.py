"""The bridge over TLS with a client certificate: the broker's
certificate checked against a CA for the host name the bridge resolves
(in a thread), the node's identity taken from its certificate by the
broker (``use_identity_as_username``), the example ACL applied to it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from helpers.broker import wait_running
from helpers.mosquitto import write_config
from helpers.certs import CertificateAuthority
from helpers.mqttpeer import connect_peer
from helpers.processes import Child, free_port

ACL = (Path(__file__).resolve().parents[2] / "conf" / "mosquitto-acl.example").read_text()


@dataclass
class TlsBroker:
    port: int
    child: Child
    folder: Path
    ca_file: Path
    users: dict = field(default_factory=dict)
    host: str = "127.0.0.1"

    def identity(self, name: str) -> tuple:
        return self.ca_file, self.folder / f"{name}.crt", self.folder / f"{name}.key"


@pytest.fixture
def tls_broker(tmp_path):
    folder = tmp_path / "broker"
    folder.mkdir()
    ca = CertificateAuthority()
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    cert, key = ca.server().write(folder, "server")
    for name in ("node-a", "fleet"):
        ca.issue(name, client=True).write(folder, name)
    (folder / "acl").write_text(ACL)
    port = free_port()
    config = write_config(folder, port, [
        f"cafile {ca_file}", f"certfile {cert}", f"keyfile {key}",
        "require_certificate true", "use_identity_as_username true",
    ], acl_file=folder / "acl", allow_anonymous=False)
    child = Child(reactor, ["mosquitto", "-c", str(config)])
    assert pytest_twisted.blockon(defer.ensureDeferred(wait_running(reactor, child))), "the port was taken"
    yield TlsBroker(port, child, folder, ca_file)
    pytest_twisted.blockon(defer.ensureDeferred(child.stop(timeout=5)))


@pytest.fixture
def service_settings(tls_broker):
    ca, cert, key = tls_broker.identity("node-a")
    return {"mqtt": {
        "enabled": True, "host": "localhost", "port": tls_broker.port, "node_id": "node-a",
        "tls": {"enabled": True, "ca_file": str(ca), "cert_file": str(cert), "key_file": str(key)},
        "homeassistant": {"enabled": False},
    }}


@pytest_twisted.ensureDeferred
async def test_a_node_with_a_client_certificate_publishes_its_state(live, tls_broker):
    bridge = live.tree.getServiceNamed("mqtt")
    deadline = reactor.seconds() + 30
    while bridge.state != "connected":
        assert reactor.seconds() < deadline, bridge.health()
        await task.deferLater(reactor, 0.05, lambda: None)
    fleet = await connect_peer(reactor, tls_broker, "fleet", tls=tls_broker.identity("fleet"), host="localhost")
    try:
        await fleet.subscribe("camservice/+/availability", "camservice/+/cameras/+/state")
        state = await fleet.until(lambda p: p.latest("camservice/node-a/cameras/camera1000/state"))
        assert json.loads(state.payload)["device"] == "camera1000"
        assert fleet.latest("camservice/node-a/availability").payload == b"online"
    finally:
        fleet.stop()


@pytest.fixture
def wrong_ca(tmp_path):
    other = tmp_path / "other-ca.pem"
    other.write_bytes(CertificateAuthority("another CA").cert_pem)
    return other


@pytest_twisted.ensureDeferred
async def test_a_broker_certificate_from_another_ca_is_refused_and_retried(live, tls_broker, wrong_ca):
    import dataclasses

    bridge = live.tree.getServiceNamed("mqtt")
    section = dataclasses.replace(bridge.config, tls=dataclasses.replace(bridge.config.tls, ca_file=wrong_ca),
                                  reconnect=dataclasses.replace(bridge.config.reconnect, initial_delay=0.2, max_delay=0.5))
    await bridge.reconfigService(dataclasses.replace(live.tree.config, mqtt=section))
    attempts = bridge._metrics.reconnects
    start = attempts._value.get()
    deadline = reactor.seconds() + 30
    while attempts._value.get() < start + 3:
        assert reactor.seconds() < deadline
        await task.deferLater(reactor, 0.1, lambda: None)
    good, body = bridge.health()
    assert not good and body["status"] == "connecting" and "certificate" in body.get("detail", "").lower(), body
    client = await live.authed_client("viewer")
    assert "result" in await client.call("get_camera_list")
    await client.close()
