"""Who may connect, as clients meet it: the address allow list, the cap
per address, the authentication deadline, the HTTP request deadline and
/metrics behind credentials. Each checks that other clients carry on."""
from __future__ import annotations

import socket

import pytest
import pytest_twisted
import treq
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint

from helpers.waiting import until


@pytest.fixture
def service_settings():
    return {
        "server": {
            "allowed_networks": ["127.0.0.1/32", "::1"],
            "max_connections_per_address": 5,
            "auth_timeout": 1,
            "request_timeout": 1,
            "metrics_access": "authenticated",
        }
    }


def _can_bind(address: str) -> bool:
    s = socket.socket()
    try:
        s.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


class _Raw(protocol.Protocol):
    """A TCP client that sends what it is told and records what comes back."""

    def __init__(self):
        self.received = bytearray()
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.lost.callback(None)


async def _raw(port: int, bind=None) -> _Raw:
    proto = _Raw()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5, bindAddress=(bind, 0) if bind else None)
    await endpoint.connect(protocol.Factory.forProtocol(lambda: proto))
    return proto


@pytest_twisted.ensureDeferred
async def test_address_outside_the_allow_list_is_refused_and_audited(live, log_events):
    if not _can_bind("127.0.0.2"):
        pytest.skip("this host cannot bind 127.0.0.2")
    audit = log_events("camservice.audit")
    inside = await live.authed_client("viewer")
    with pytest.raises(ConnectionError):
        await live.connect(bind="127.0.0.2")
    # plain HTTP from there is refused as well, before any byte is read
    outside = await _raw(live.port, bind="127.0.0.2")
    outside.transport.write(b"GET /health/alive HTTP/1.1\r\nHost: x\r\n\r\n")
    await outside.lost
    assert bytes(outside.received) == b""
    refusals = [e for e in audit if e.get("outcome") == "refused"]
    assert refusals and refusals[0]["peer"] == "127.0.0.2"
    assert refusals[0]["reason"] == "address not allowed"
    assert refusals[0]["audit"] is True
    # the allowed client was not affected
    assert (await inside.call("get_camera_list"))["result"]["total"] == 1
    await inside.close()


@pytest_twisted.ensureDeferred
async def test_connection_flood_from_one_address_is_capped(live, log_events):
    audit = log_events("camservice.audit")
    clients = [await live.connect() for _ in range(4)]
    # a fifth connection that never handshakes still holds a slot
    idle = await _raw(live.port)
    await until(lambda: live.tree.getServiceNamed("api").gate.open_from("127.0.0.1") == 5)
    flood = [_raw(live.port) for _ in range(20)]
    refused = await defer.gatherResults([defer.ensureDeferred(f) for f in flood])
    await defer.gatherResults([r.lost for r in refused])
    assert all(bytes(r.received) == b"" for r in refused)
    assert [e["reason"] for e in audit if e.get("outcome") == "refused"][:1] == ["too many connections from this address"]
    # one audit line for the burst, not twenty
    assert len([e for e in audit if e.get("outcome") == "refused"]) == 1
    # the connected clients carry on; a slot frees when one leaves
    for c in clients:
        assert (await c.call("ping"))["result"] == "pong"
    await clients[0].close()
    await until(lambda: live.tree.getServiceNamed("api").gate.open_from("127.0.0.1") == 4)
    again = await live.connect()
    assert (await again.call("ping"))["result"] == "pong"
    idle.transport.loseConnection()
    for c in clients[1:] + [again]:
        await c.close()


@pytest_twisted.ensureDeferred
async def test_idle_unauthenticated_connection_is_closed_with_4001(live):
    authed = await live.authed_client("viewer")
    idle = await live.connect()
    code, reason = await idle.closed
    assert code == 4001
    notice = await idle.notifications.get()
    assert notice["method"] == "session_ended"
    assert notice["params"]["close_code"] == 4001
    # past the deadline, the authenticated one is still served
    assert (await authed.call("get_camera_list"))["result"]["total"] == 1
    await authed.close()


@pytest_twisted.ensureDeferred
async def test_http_client_trickling_headers_is_dropped(live):
    slow = await _raw(live.port)
    slow.transport.write(b"GET /health/alive HTTP/1.1\r\n")
    started = reactor.seconds()
    for _ in range(100):
        if slow.lost.called:
            break
        slow.transport.write(b"X-Slow: 1\r\n")
        await task.deferLater(reactor, 0.1, lambda: None)
    await slow.lost
    assert reactor.seconds() - started < 3
    assert b"200" not in bytes(slow.received)
    # a prompt client is served meanwhile
    response = await treq.get(live.http + "/health/alive")
    assert response.code == 200
    await response.content()


@pytest_twisted.ensureDeferred
async def test_metrics_need_admin_credentials_when_not_public(live):
    anonymous = await treq.get(live.http + "/metrics")
    assert anonymous.code == 401
    await anonymous.content()
    viewer = await treq.get(live.http + "/metrics", headers={"Authorization": f"Bearer {live.token('viewer')}"})
    assert viewer.code == 403
    await viewer.content()
    admin = await treq.get(live.http + "/metrics", headers={"Authorization": f"Bearer {live.token('admin')}"})
    assert admin.code == 200
    assert b"camservice_websocket_connections" in await admin.content()
    health = await treq.get(live.http + "/health/ready")
    assert health.code in (200, 503)
    await health.content()
