"""A WebSocket connection, from its HTTP upgrade to its close, leaves no
reference cycles: reference counting frees its objects at once, so clients
coming and going make no work for the cycle collector (whose full
collections stop every other client's requests while they run)."""
from __future__ import annotations

import base64
import gc
import json
import os
import sys
import weakref

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.server import Request

from camservice.rpc.session import Session
from camservice.server.protocol import RpcProtocol
from helpers.wsframes import client_frame, read_frames

PEER = IPv4Address("TCP", "127.0.0.1", 40000)


@pytest.fixture
def collector_off():
    """No collection runs in the test: what is freed is freed by reference
    counting. And no log event is kept: until logging begins (the service
    begins it, unit tests do not) Twisted buffers events, and an event
    refers to its source, a protocol that logged."""
    from twisted.logger import globalLogBeginner, globalLogPublisher

    buffer = getattr(globalLogBeginner, "_temporaryObserver", None)
    if buffer is not None:
        globalLogPublisher.removeObserver(buffer)
    gc.collect()
    gc.disable()
    yield
    gc.enable()
    if buffer is not None:
        globalLogPublisher.addObserver(buffer)


@pytest.fixture
def shipped_harness(write_config, clock):
    """A service tree with the rate limit as shipped: each connection has
    a token bucket of its own."""
    from camservice.config import load_config
    from helpers.harness import make_harness

    harness = make_harness(load_config(write_config({})), clock)
    yield harness
    harness.stop()


def _upgrade(site):
    channel = site.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    transport.protocol = channel  # as a TCP transport has
    channel.makeConnection(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    channel.dataReceived(
        (
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert transport.value().startswith(b"HTTP/1.1 101")
    transport.clear()
    return channel, transport


def _call(proto, transport, method, msg_id, params=None) -> dict:
    request = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        request["params"] = params
    proto.dataReceived(client_frame(json.dumps(request).encode()))
    frames = read_frames(transport.value())
    transport.clear()
    return json.loads(frames[-1][1])


def _requests_alive() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Request))


def test_the_upgrade_request_and_http_channel_are_freed_once_the_websocket_takes_over(harness, collector_off):
    site = harness.tree.getServiceNamed("api").site
    before = _requests_alive()
    channel, transport = _upgrade(site)
    proto = transport.protocol
    assert isinstance(proto, RpcProtocol)
    gone = weakref.ref(channel)
    del channel
    assert gone() is None
    assert _requests_alive() == before
    proto.connectionLost(Failure(ConnectionDone()))


def test_a_closed_connection_and_its_session_are_freed_by_reference_counting(shipped_harness, collector_off):
    harness = shipped_harness
    site = harness.tree.getServiceNamed("api").site
    channel, transport = _upgrade(site)
    del channel
    proto = transport.protocol
    reply = _call(proto, transport, "authenticate", 1, {"auth_token": harness.token("viewer")})
    assert reply["result"]["authenticated"] is True
    assert _call(proto, transport, "ping", 2)["result"] == "pong"
    session = proto.session
    # a bucket has slots and no weak references: held here, it is free
    # once this is the only reference left
    bucket = session.rate_limiter
    assert bucket is not None and sys.getrefcount(bucket) > 2
    sessions = harness.tree.getServiceNamed("api").sessions
    assert sessions.get(session.session_id) is session
    session_id = session.session_id
    del session
    proto.connectionLost(Failure(ConnectionDone()))
    # as Twisted's TCP transport does when its connection is lost
    transport.protocol = transport.producer = None
    assert sessions.get(session_id) is None
    gone = weakref.ref(proto)
    del proto, transport
    assert gone() is None
    assert sys.getrefcount(bucket) == 2  # ``bucket`` and the call's argument


class _Outbox:
    def __init__(self):
        self.sent = []

    def send(self, payload: bytes) -> None:
        self.sent.append(payload)


def test_a_disconnected_session_drops_notifications_and_lets_go_of_its_sender(clock, collector_off):
    outbox = _Outbox()
    session = Session(clock, outbox.send)
    session.send(b"one")
    session.disconnect()
    session.send(b"two")
    assert outbox.sent == [b"one"]
    gone = weakref.ref(outbox)
    del outbox
    assert gone() is None
