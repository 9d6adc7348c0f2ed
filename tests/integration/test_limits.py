"""Connection limits as a client meets them: keepalive, dead peers,
connection cap, request rate."""
from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from helpers.waiting import until


@pytest.fixture
def service_settings():
    return {
        "server": {
            "auto_ping_interval": 1,
            "auto_ping_timeout": 1,
            "max_connections": 3,
            "rate_limit": {"requests_per_second": 5, "burst": 5},
        }
    }


@pytest_twisted.ensureDeferred
async def test_live_peer_is_kept_and_dead_peer_is_dropped(live):
    factory = live.tree.getServiceNamed("api").factory
    alive = await live.connect()
    dead = await live.connect()
    await until(lambda: len(factory.open_protocols) == 2)
    # the "dead" client stops reading: it will never answer a ping
    dead.proto.transport.pauseProducing()
    await task.deferLater(reactor, 3.5, lambda: None)
    await until(lambda: len(factory.open_protocols) == 1)
    # the live one answered pings all along and still works
    assert (await alive.call("ping"))["result"] == "pong"
    dead.proto.transport.resumeProducing()
    await dead.closed
    await alive.close()


@pytest_twisted.ensureDeferred
async def test_connections_beyond_the_cap_are_refused(live):
    clients = [await live.connect() for _ in range(3)]
    with pytest.raises(ConnectionError) as info:
        await live.connect()
    assert "503" in str(info.value) or "maximum number of connections" in str(info.value)
    await clients[0].close()
    await until(lambda: len(live.tree.getServiceNamed("api").factory.open_protocols) == 2)
    fourth = await live.connect()
    assert (await fourth.call("ping"))["result"] == "pong"
    for c in clients[1:] + [fourth]:
        await c.close()


@pytest_twisted.ensureDeferred
async def test_request_flood_is_rate_limited(live):
    client = await live.connect()
    replies = [await client.call("ping") for _ in range(8)]
    limited = [r for r in replies if "error" in r]
    assert [r["result"] for r in replies[:5]] == ["pong"] * 5
    assert limited and all(r["error"]["code"] == -32040 for r in limited)
    assert all(r["error"]["data"]["retry_after_ms"] > 0 for r in limited)
    await task.deferLater(reactor, 0.25, lambda: None)
    assert (await client.call("ping"))["result"] == "pong"
    await client.close()
