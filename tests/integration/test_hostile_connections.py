"""Hostile connections cost the server a bounded amount, and the other
clients are served all along: a client that floods requests and never
reads the replies, one that does not read its notifications, and one that
ignores -32040."""
from __future__ import annotations

import functools
import sys

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from helpers.processes import Child
from helpers.waiting import until

#: a raw WebSocket client in a process of its own, with a tiny receive
#: buffer: handshake, then batches of ``count`` pings as fast as the socket
#: takes them (until the server stops reading), never reading a reply
FLOODER = r"""
import base64, os, socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that takes nothing in
s.connect(("127.0.0.1", port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
assert b" 101 " in head, head
def frame(payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + body
batch = b"".join(frame(b'{"jsonrpc":"2.0","method":"ping","id":%d}' % i) for i in range(count))
print("handshaken", flush=True)
for n in range(10):
    s.sendall(batch)
    print("sent", n + 1, flush=True)
sys.stdin.read()
"""


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


#: this file's conditions take up to 20 s unless a call says otherwise
_until = functools.partial(until, timeout=20.0)


@pytest.fixture
def service_settings(request):
    server = {"rate_limit": {"requests_per_second": 0}, "auth_timeout": 0}
    server.update(getattr(request, "param", {}))
    return {"server": server}


def _factory(live):
    return live.tree.getServiceNamed("api").factory


@pytest_twisted.ensureDeferred
async def test_client_that_never_reads_its_replies_costs_bounded_memory(live):
    reader = await live.authed_client("viewer")
    for _ in range(200):  # warm the paths the flood takes
        await reader.call("ping")
    baseline = _rss_mb()
    before = set(_factory(live).open_protocols)
    started = reactor.seconds()
    flooder = Child(reactor, [sys.executable, "-u", "-c", FLOODER, str(live.port), "50000"])
    try:
        await _until(lambda: "handshaken" in flooder.stdout)
        await _until(lambda: len(_factory(live).open_protocols) == len(before) + 1)
        (proto,) = set(_factory(live).open_protocols) - before
        # Steady state: the flood stalls (the server stopped reading) once
        # the kernel's socket buffers are full both ways.
        sent, since = -1, reactor.seconds()
        while reactor.seconds() - since < 2.0:
            assert reactor.seconds() - started < 90, "the flood never stalled"
            now_sent = flooder.stdout.count("sent")
            if now_sent != sent:
                sent, since = now_sent, reactor.seconds()
            await task.deferLater(reactor, 0.1, lambda: None)
        assert proto.state == proto.STATE_OPEN
        assert proto._backlog is not None, "the server still reads from a client that does not read"
        # the other client is served at once all along
        for _ in range(20):
            started = reactor.seconds()
            assert (await reader.call("get_camera_list"))["result"]["total"] == 1
            assert reactor.seconds() - started < 0.5
        growth = _rss_mb() - baseline
        # unbounded, every 50,000 pongs are about 13 MB; bounded, the
        # replies waiting are one read's worth
        assert growth < 5.0, f"server memory grew {growth:.1f} MB"
    finally:
        await flooder.stop()
    await _until(lambda: proto not in _factory(live).open_protocols)
    await reader.close()


@pytest_twisted.ensureDeferred
# shutdown_timeout: the close handshake may take that long; the client
# has megabytes to read before it sees the close frame
@pytest.mark.parametrize("service_settings", [{"max_send_buffer": 131072, "shutdown_timeout": 30}], indirect=True)
async def test_client_that_does_not_read_notifications_is_closed_with_1008(live):
    other = await live.authed_client("viewer")
    assert "error" not in await other.call("subscribe_events", {"topics": ["snapshot.taken"]})
    before = set(_factory(live).open_protocols)
    slow = await live.authed_client("viewer")
    assert "error" not in await slow.call("subscribe_events", {"topics": ["snapshot.taken"]})
    (server_side,) = set(_factory(live).open_protocols) - before
    slow.proto.transport.pauseProducing()  # stop reading
    published = 0
    # events in bursts, as a busy camera would make them, until the
    # server gives up on the client that does not read
    while server_side.state == server_side.STATE_OPEN:
        assert published < 100_000, "the server kept buffering for a client that does not read"
        for _ in range(100):
            live.tree.bus.publish("snapshot.taken", device="camera1000", filename=f"snap-{published:06d}-" + "x" * 300)
            published += 1
        await task.deferLater(reactor, 0.005, lambda: None)
    slow.proto.transport.resumeProducing()
    code, _reason = await slow.closed
    assert code == 1008
    # the other client got every one of them, in order
    received = [await other.notifications.get() for _ in range(published)]
    assert received[-1]["params"]["filename"].startswith(f"snap-{published - 1:06d}-")
    assert (await other.call("ping"))["result"] == "pong"
    await other.close()


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize(
    "service_settings", [{"rate_limit": {"requests_per_second": 5, "burst": 5, "close_after": 20}}], indirect=True
)
async def test_client_that_keeps_ignoring_the_rate_limit_is_closed_with_4005(live):
    polite = await live.authed_client("viewer")
    rude = await live.connect()
    replies = []
    for _ in range(30):
        if rude.closed.called:
            break
        try:
            replies.append(await rude.call("ping"))
        except ConnectionError:
            break
    code, _reason = await rude.closed
    assert code == 4005
    assert sum(1 for r in replies if r.get("error", {}).get("code") == -32040) >= 19
    assert (await polite.call("ping"))["result"] == "pong"
    await polite.close()
