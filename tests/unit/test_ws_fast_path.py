"""The WebSocket protocol's short path for whole small text frames, against
Autobahn's general one: the same replies, the same close codes (1007 for
invalid UTF-8, 1009 for oversize, 1002 for unmasked frames) with every
codec, fragments and split frames still answered."""
from __future__ import annotations

import base64
import json
import os

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.internet.testing import StringTransport

from camservice.codec import CODECS, codec as make_codec
from camservice.rpc.dispatcher import Dispatcher
from camservice.server.protocol import text_frame, unmask
from helpers.wsframes import Producer, client_frame, close_code, read_frames


def _installed():
    out = []
    for name in CODECS:
        try:
            make_codec(name)
        except ImportError:
            continue
        out.append(name)
    return out


CODEC_NAMES = _installed()


class Client:
    """One WebSocket connection to the factory, over a string transport."""

    open: list = []

    def __init__(self, factory):
        Client.open.append(self)
        self.proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport.registerProducer(Producer(), True)
        self.proto.makeConnection(self.transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.proto.dataReceived(
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = self.transport.value()
        assert response.startswith(b"HTTP/1.1 101"), response
        self.transport.clear()

    def send(self, data: bytes) -> list[tuple[int, bytes]]:
        self.proto.dataReceived(data)
        out = self.transport.value()
        self.transport.clear()
        return read_frames(out)

    def replies(self, data: bytes) -> list[dict]:
        frames = self.send(data)
        assert all(op == 0x1 for op, _ in frames), frames
        return [json.loads(p) for _, p in frames]


def _request(method="ping", msg_id=1, **extra) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, **extra}).encode()


@pytest.fixture(params=CODEC_NAMES)
def factory(request, harness):
    """The service's WebSocket factory, its dispatcher on one codec."""
    factory = harness.tree.getServiceNamed("api").factory
    d = factory.dispatcher
    factory.dispatcher = Dispatcher(d.table, d._authenticator, d._clock, d._metrics, d._audit,
                                    codec=make_codec(request.param))
    yield factory
    factory.dispatcher = d
    while Client.open:
        client = Client.open.pop()
        client.proto.connectionLost(Failure(ConnectionDone()))


# -- the pieces -------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 125, 126, 1000, 65536 + 7])
def test_unmask_is_rfc6455_masking(n):
    mask = os.urandom(4)
    payload = os.urandom(n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    data = b"xx" + mask + masked + b"tail"
    assert unmask(data, 6, 6 + n) == payload


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536])
def test_text_frame_is_rfc6455_framing(n):
    payload = b"a" * n
    frames = read_frames(text_frame(payload))
    assert frames == [(0x1, payload)]
    frame = text_frame(payload)
    assert frame[0] == 0x81 and not frame[1] & 0x80  # FIN text, unmasked
    # the shortest length encoding
    assert len(frame) - n == (2 if n < 126 else 4 if n < 65536 else 10)


# -- requests ---------------------------------------------------------------

def test_whole_frame_is_answered_with_id_and_metadata(factory):
    client = Client(factory)
    assert client.proto._fast
    [reply] = client.replies(client_frame(_request("ping", "abc")))
    assert reply["id"] == "abc" and reply["result"] == "pong"
    meta = reply["metadata"]
    assert meta["request_id"] == f"{client.proto.session.conn_id}-1"
    assert meta["server_timestamp"].endswith("Z") and len(meta["server_timestamp"]) == 24
    assert meta["processing_time_ms"] >= 0


def test_several_frames_in_one_read_are_answered_in_order(factory):
    client = Client(factory)
    data = b"".join(client_frame(_request("ping", i)) for i in range(5))
    replies = client.replies(data)
    assert [r["id"] for r in replies] == [0, 1, 2, 3, 4]
    assert [r["metadata"]["request_id"].rsplit("-", 1)[1] for r in replies] == ["1", "2", "3", "4", "5"]


def test_frame_split_across_reads_is_answered_once_whole(factory):
    client = Client(factory)
    frame = client_frame(_request("ping", 7))
    assert client.send(frame[:3]) == []
    assert client.send(frame[3:-1]) == []
    [reply] = client.replies(frame[-1:] + client_frame(_request("ping", 8)))[:1]
    assert reply["id"] == 7
    # and the next whole frame takes the short path again
    assert [r["id"] for r in client.replies(client_frame(_request("ping", 9)))] == [9]


def test_fragmented_message_is_answered(factory):
    client = Client(factory)
    message = _request("ping", 11)
    data = client_frame(message[:10], fin=False) + client_frame(message[10:], opcode=0x0)
    [reply] = client.replies(data)
    assert reply["id"] == 11 and reply["result"] == "pong"


def test_16_bit_length_frame_is_answered(factory):
    client = Client(factory)
    message = _request("ping", 12, pad="x" * 300)
    [reply] = client.replies(client_frame(message))
    # an unknown member is ignored by JSON-RPC; the request is answered
    assert reply["id"] == 12


def test_garbage_is_a_parse_error_and_the_connection_stays(factory):
    client = Client(factory)
    [reply] = client.replies(client_frame(b"{not json"))
    assert reply["error"]["code"] == -32700 and reply["id"] is None
    [reply] = client.replies(client_frame(b""))
    assert reply["error"]["code"] == -32700
    assert [r["id"] for r in client.replies(client_frame(_request("ping", 2)))] == [2]


def test_ping_frame_gets_a_pong(factory):
    client = Client(factory)
    frames = client.send(client_frame(b"hi", opcode=0x9))
    assert frames == [(0xA, b"hi")]


# -- what closes --------------------------------------------------------------

@pytest.mark.parametrize(
    "payload",
    [
        b'{"jsonrpc": "2.0", "id": 1, "method": "\xff"}',
        b'"\xc3"',  # a code point cut short at the end
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate
        b"\xff\xfe{\x00}\x00",  # UTF-16 with a BOM: not UTF-8
    ],
)
def test_invalid_utf8_closes_with_1007(factory, payload):
    client = Client(factory)
    frames = client.send(client_frame(payload) + client_frame(_request("ping", 2)))
    assert close_code(frames) == 1007
    assert not [p for op, p in frames if op == 0x1]  # nothing answered, also not what followed


def test_invalid_utf8_across_fragments_closes_with_1007(factory):
    client = Client(factory)
    frames = client.send(client_frame(b'"\xc3', fin=False) + client_frame(b'("', opcode=0x0))
    assert close_code(frames) == 1007


def test_utf8_text_is_answered(factory):
    client = Client(factory)
    [reply] = client.replies(client_frame(_request("ping", "caméra-😀")))
    assert reply["id"] == "caméra-😀"


def test_oversize_frame_closes_with_1009(factory):
    client = Client(factory)
    limit = factory.config.max_frame_size
    frames = client.send(client_frame(b'"' + b"a" * limit + b'"'))
    assert close_code(frames) == 1009


def test_oversize_message_in_fragments_closes_with_1009(factory):
    client = Client(factory)
    half = b"a" * (factory.config.max_message_size // 2 + 10)
    frames = client.send(client_frame(b'"' + half, fin=False) + client_frame(half + b'"', opcode=0x0))
    assert close_code(frames) == 1009


def test_unmasked_frame_closes_with_1002(factory):
    client = Client(factory)
    frames = client.send(client_frame(_request("ping", 1), masked=False))
    assert close_code(frames) == 1002


def test_reserved_bits_close_with_1002(factory):
    client = Client(factory)
    frame = bytearray(client_frame(_request("ping", 1)))
    frame[0] |= 0x40  # RSV1 without an extension
    frames = client.send(bytes(frame))
    assert close_code(frames) == 1002


def test_binary_frame_is_refused_with_an_error(factory):
    client = Client(factory)
    frames = client.send(client_frame(_request("ping", 1), opcode=0x2))
    [(op, payload)] = frames
    reply = json.loads(payload)
    assert reply["error"]["code"] == -32600 and reply["id"] is None


def test_large_reply_goes_out_as_one_frame(factory):
    client = Client(factory)
    payload = b'"' + b"x" * (factory.config.max_message_size + 5) + b'"'
    client.proto._send(payload)
    assert read_frames(client.transport.value()) == [(0x1, payload)]


@pytest.mark.parametrize("limit", ["maxFramePayloadSize", "maxMessagePayloadSize"])
def test_frame_over_a_small_limit_closes_with_1009(factory, limit):
    client = Client(factory)
    setattr(client.proto, limit, 1000)  # a whole frame with a 16-bit length, over the limit
    frames = client.send(client_frame(b'"' + b"a" * 1500 + b'"'))
    assert close_code(frames) == 1009
    assert not [p for op, p in frames if op == 0x1]


def test_a_request_counts_as_traffic_for_the_auto_ping(factory, clock):
    client = Client(factory)
    proto = client.proto
    assert proto.autoPingRestartOnAnyTraffic
    # a ping went out and its pong is awaited (Autobahn's timers run on
    # the real reactor, so the wait is set here on the test clock)
    timed_out = []
    proto.autoPingTimeoutCall = clock.callLater(factory.config.auto_ping_timeout, timed_out.append, True)
    [reply] = client.replies(client_frame(_request("ping", 1)))
    assert reply["result"] == "pong"
    assert proto.autoPingTimeoutCall is None  # a data frame counts, as in Autobahn
    clock.advance(factory.config.auto_ping_timeout + 0.1)
    assert not timed_out
