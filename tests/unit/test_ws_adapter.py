"""The service's Twisted adapter of Autobahn's WebSocket protocol: handshake,
messages, close codes and peer names as with ``autobahn.twisted``, and the
resource that takes a request's connection over."""
from __future__ import annotations

import base64
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from camservice.server.ws_adapter import (
    WebSocketResource,
    WebSocketServerFactory,
    WebSocketServerProtocol,
    peer_name,
)
from helpers.wsframes import Producer, client_frame, close_code, read_frames

ROOT = Path(__file__).resolve().parents[2]
PEER = IPv4Address("TCP", "127.0.0.1", 40000)


class Echo(WebSocketServerProtocol):
    """Echoes messages and records what the adapter called."""

    def __init__(self):
        super().__init__()
        self.events = []

    def onConnect(self, request):
        self.events.append(("connect", request.peer))

    def onOpen(self):
        self.events.append(("open",))

    def onMessage(self, payload, isBinary):
        self.events.append(("message", payload, isBinary))
        self.sendMessage(payload, isBinary)

    def onClose(self, wasClean, code, reason):
        self.events.append(("close", wasClean, code))


@pytest.fixture
def factory():
    factory = WebSocketServerFactory("ws://127.0.0.1:8002", reactor=Clock())
    factory.protocol = Echo
    factory.setProtocolOptions(maxMessagePayloadSize=1000, maxFramePayloadSize=1000, failByDrop=False)
    return factory


class _Channel:
    transport = None


def connect(factory) -> tuple[Echo, StringTransport]:
    proto = factory.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    transport.registerProducer(Producer(), True)
    proto.makeConnection(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    proto.dataReceived(
        ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    )
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 101"), response
    transport.clear()
    return proto, transport


def test_handshake_opens_with_the_peer_named_as_autobahn_names_it(factory):
    proto, _ = connect(factory)
    assert proto.peer == "tcp4:127.0.0.1:40000"
    assert proto.events == [("connect", "tcp4:127.0.0.1:40000"), ("open",)]


def test_text_and_binary_messages_arrive_and_replies_are_framed(factory):
    proto, transport = connect(factory)
    proto.dataReceived(client_frame(b"hello"))
    proto.dataReceived(client_frame(b"\x00\x01", opcode=0x2))
    assert proto.events[-2:] == [("message", b"hello", False), ("message", b"\x00\x01", True)]
    assert read_frames(transport.value()) == [(0x1, b"hello"), (0x2, b"\x00\x01")]


def test_invalid_utf8_closes_with_1007(factory):
    proto, transport = connect(factory)
    proto.dataReceived(client_frame(b"ok \xff", fin=False) + client_frame(b"!", opcode=0x0))
    assert close_code(read_frames(transport.value())) == 1007
    assert not [e for e in proto.events if e[0] == "message"]


def test_oversize_message_closes_with_1009(factory):
    proto, transport = connect(factory)
    proto.dataReceived(client_frame(b"x" * 1001))
    assert close_code(read_frames(transport.value())) == 1009


def test_unmasked_frame_closes_with_1002(factory):
    proto, transport = connect(factory)
    proto.dataReceived(b"\x81\x02hi")
    assert close_code(read_frames(transport.value())) == 1002


def test_connection_lost_reaches_on_close(factory):
    proto, transport = connect(factory)
    proto.connectionLost(Failure(ConnectionDone()))
    assert proto.events[-1][0] == "close"


def test_close_handshake_drops_the_connection_after_the_reply(factory):
    proto, transport = connect(factory)
    proto.dataReceived(client_frame(struct.pack("!H", 1000), opcode=0x8))
    assert close_code(read_frames(transport.value())) == 1000
    assert transport.disconnecting


@pytest.mark.parametrize(
    "address, name",
    [
        (IPv4Address("TCP", "10.0.0.1", 80), "tcp4:10.0.0.1:80"),
        (IPv6Address("TCP", "::1", 8002), "tcp6:::1:8002"),
        (UNIXAddress(b"/run/camservice.sock"), "unix:/run/camservice.sock"),
        (UNIXAddress(None), "unix"),
    ],
)
def test_peer_names(address, name):
    assert peer_name(address) == name


def test_resource_without_a_connection_to_take_over_asks_for_an_upgrade(factory):
    request = DummyRequest([b""])
    request.channel = _Channel()
    body = WebSocketResource(factory).render(request)
    assert request.responseCode == 426 and request.responseHeaders.getRawHeaders(b"upgrade") == [b"WebSocket"]
    assert body


def test_resource_refused_by_the_factory_answers_500(factory):
    factory.buildProtocol = lambda addr: None
    request = DummyRequest([b""])
    request.channel = _Channel()
    request.channel.transport = StringTransport(peerAddress=PEER)
    request.transport = request.channel.transport
    assert WebSocketResource(factory).render(request) == b""
    assert request.responseCode == 500


def test_resource_hands_the_request_to_the_websocket_protocol(factory):
    request = DummyRequest([b""])
    transport = StringTransport(peerAddress=PEER)
    transport.protocol = _Channel()
    request.channel = _Channel()
    request.channel.requests = [request]  # an HTTPChannel's queue of requests
    request.content = io.BytesIO(b"")
    request.channel.transport = transport
    request.transport = transport
    request.method, request.uri = b"GET", b"/ws"
    for name, value in [(b"Host", b"127.0.0.1:8002"), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
                        (b"Sec-WebSocket-Key", base64.b64encode(os.urandom(16))),
                        (b"Sec-WebSocket-Version", b"13")]:
        request.requestHeaders.setRawHeaders(name, [value])
    assert WebSocketResource(factory).render(request) is NOT_DONE_YET
    assert request.channel.transport is None  # the HTTP channel lets go of it
    assert request.channel.requests == []  # and of the request (no cycle left to collect)
    proto = transport.protocol
    assert isinstance(proto, Echo) and proto.events[-1] == ("open",)
    assert transport.value().startswith(b"HTTP/1.1 101")


def test_the_adapter_does_not_import_autobahn_twisted():
    code = ("import sys\n"
            "import camservice.server.ws_adapter, camservice.server.protocol, camservice.server.site\n"
            "print(sorted(m for m in sys.modules if m.startswith('autobahn.twisted')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_timers_due_together_run_a_few_per_reactor_turn():
    # auto-pings of clients that connected together must not stall replies
    import txaio

    from camservice.server.ws_adapter import TIMER_CHUNK

    clock = Clock()
    saved = txaio.config.loop
    txaio.config.loop = clock
    try:
        factory = WebSocketServerFactory("ws://127.0.0.1:8002", reactor=clock)
        fired = []
        for i in range(3 * TIMER_CHUNK + 1):
            factory._batched_timer.call_later(30.0, fired.append, i)
        clock.advance(30.0)
        turns = [len(fired)]
        while len(fired) < 3 * TIMER_CHUNK + 1 and len(turns) < 100:
            clock.advance(0.05)
            turns.append(len(fired))
        steps = [b - a for a, b in zip([0] + turns, turns)]
        assert sorted(fired) == list(range(3 * TIMER_CHUNK + 1))
        assert max(steps) <= TIMER_CHUNK and len([s for s in steps if s]) == 4
        assert clock.seconds() - 30.0 <= 0.25  # all within the 200 ms bucket
    finally:
        txaio.config.loop = saved
