"""Hostile input against the running service, over real WebSockets: each
gets its exact error while another client keeps being served; quick
add/remove pairs of a stream that never answers leave no ffprobe behind."""
from __future__ import annotations

import json
import os

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor, task

from camservice.codec import codec
from helpers.processes import children_named, free_port
from helpers.waiting import until

HANG_PORT = free_port()


@pytest.fixture
def service_settings():
    return {
        "server": {"rate_limit": {"requests_per_second": 0}},
        "external_streams": {"allowed_targets": [f"127.0.0.1:{HANG_PORT}"], "probe_concurrency": 2,
                             "probe_timeout": 20},
    }


class _Silent(protocol.Protocol):
    """A "camera" that accepts connections and never says anything."""


def _ffprobe_children() -> list[int]:
    """ffprobe processes whose parent is this test process."""
    return children_named(os.getpid(), "ffprobe")


async def _pings_in_between(client, n=5):
    for _ in range(n):
        assert (await client.call("ping"))["result"] == "pong"


@pytest_twisted.ensureDeferred
async def test_hostile_messages_get_their_exact_errors_and_others_are_served(live):
    attacker = await live.authed_client("operator")
    bystander = await live.authed_client("viewer")

    for raw in (b'{"jsonrpc": "2.0"}', b'{"jsonrpc": null, "method": "x"}', b'{"method": 1}'):
        reply = await attacker.send_raw(raw, expect_id=None)
        assert reply["id"] is None and reply["error"]["code"] == -32600, raw
        await _pings_in_between(bystander, 1)

    for url, rule in (
        ("rtsp://192.0.2.10:554/stream1\n", "must not contain whitespace, control or non-ASCII characters"),
        ("rtsp://192.0.2.10:554/%zz", "has an invalid percent escape (a % must be followed by two hex digits)"),
    ):
        reply = await attacker.call("add_external_stream", {"stream_url": url, "stream_name": "x"})
        assert reply["error"]["code"] == -32602
        assert (reply["error"]["data"]["param"], reply["error"]["data"]["rule"]) == ("stream_url", rule)
        await _pings_in_between(bystander, 1)

    big = json.dumps({"jsonrpc": "2.0", "id": 77, "method": "subscribe_events",
                      "params": {"topics": [0] * 32_000}}, separators=(",", ":")).encode()
    assert len(big) <= 65_536
    pending_pings = [bystander.call("ping") for _ in range(3)]
    reply = await attacker.send_raw(big, expect_id=77)
    assert reply["error"]["code"] == -32602 and reply["error"]["data"]["param"] == "topics"
    assert [r["result"] for r in await defer.gatherResults(pending_pings)] == ["pong"] * 3

    # deep nesting, with the stdlib codec the service falls back to
    dispatcher = live.tree.getServiceNamed("api").factory.dispatcher
    saved = dispatcher._loads
    dispatcher._loads = codec("json").loads
    try:
        deep = b'{"jsonrpc":"2.0","id":78,"method":"ping","params":{"a":' + b"[" * 30_000 + b"]" * 30_000 + b"}}"
        reply = await attacker.send_raw(deep, expect_id=None)
        assert reply["error"]["code"] == -32700 and reply["id"] is None
        await _pings_in_between(bystander)
    finally:
        dispatcher._loads = saved
    assert (await attacker.call("ping"))["result"] == "pong"  # the attacker's connection survives too
    await attacker.close()
    await bystander.close()


@pytest_twisted.ensureDeferred
async def test_quick_add_remove_pairs_leave_no_ffprobe_running(live):
    camera = reactor.listenTCP(HANG_PORT, protocol.Factory.forProtocol(_Silent), interface="127.0.0.1")
    operator = await live.authed_client("operator")
    try:
        # six adds at once: two probes run, the others wait for a slot
        urls = [f"rtsp://127.0.0.1:{HANG_PORT}/wait{i}" for i in range(6)]
        adds = [operator.call("add_external_stream", {"stream_url": u, "stream_name": f"wait{i}"})
                for i, u in enumerate(urls)]
        await until(lambda: len(_ffprobe_children()) == 2)
        await task.deferLater(reactor, 0.5, lambda: None)
        assert len(_ffprobe_children()) == 2
        removes = [operator.call("remove_external_stream", {"stream_url": u}) for u in urls]
        assert all("result" in r for r in await defer.gatherResults(adds + removes))
        await until(lambda: _ffprobe_children() == [], timeout=5)

        replies = []
        peak = 0
        for i in range(20):
            url = f"rtsp://127.0.0.1:{HANG_PORT}/cam{i}"
            replies.append(operator.call("add_external_stream", {"stream_url": url, "stream_name": f"cam{i}"}))
            replies.append(operator.call("remove_external_stream", {"stream_url": url}))
            peak = max(peak, len(_ffprobe_children()))
        answered = await defer.gatherResults(replies)
        assert all("result" in r for r in answered), [r for r in answered if "result" not in r]
        peak = max(peak, len(_ffprobe_children()))
        await until(lambda: _ffprobe_children() == [], timeout=5)  # TERM, not probe_timeout (20 s)
        assert peak <= 2
        listed = await operator.call("get_external_streams")
        assert listed["result"]["total_count"] == 0
    finally:
        await operator.close()
        await camera.stopListening()
