"""What connections and reloads keep is frozen out of the cycle collector's
full passes once a burst has settled; frozen garbage is collected once the
last client has gone."""
from __future__ import annotations

import gc

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from camservice.events import Event
from camservice.ops.collector import CollectorSchedule


class FakeCollector:
    """Records what the schedule asks of the ``gc`` module."""

    def __init__(self):
        self.calls = []

    def collect(self, generation=2):
        self.calls.append(("collect", generation))
        return 0

    def freeze(self):
        self.calls.append("freeze")

    def unfreeze(self):
        self.calls.append("unfreeze")


def _schedule(clock, **kw):
    fake = FakeCollector()
    return CollectorSchedule(clock, collector=fake, **kw), fake


def test_a_burst_is_frozen_once_no_connection_came_for_the_settle_time(clock):
    schedule, fake = _schedule(clock, burst=3, settle=2.0)
    for _ in range(3):
        schedule.opened()
    assert schedule.pending == "freeze"
    clock.advance(1.5)
    schedule.opened()  # the burst goes on
    clock.advance(0.6)
    assert fake.calls == []
    clock.advance(1.5)
    assert fake.calls == [("collect", 1), "freeze"]
    assert schedule.pending is None


def test_a_few_connections_freeze_nothing(clock):
    schedule, fake = _schedule(clock, burst=3, settle=2.0)
    schedule.opened()
    schedule.opened()
    clock.advance(60)
    assert fake.calls == [] and schedule.pending is None


def test_the_count_starts_again_after_a_freeze(clock):
    schedule, fake = _schedule(clock, burst=3, settle=2.0)
    for _ in range(3):
        schedule.opened()
    clock.advance(2)
    fake.calls.clear()
    schedule.opened()
    schedule.opened()
    clock.advance(10)
    assert fake.calls == []


def test_a_reload_freezes_at_once(clock):
    schedule, fake = _schedule(clock)
    schedule.reloaded()
    assert fake.calls == [("collect", 1), "freeze"]


def test_once_the_last_client_has_gone_frozen_garbage_gets_one_full_pass(clock):
    schedule, fake = _schedule(clock, burst=1, settle=2.0)
    schedule.opened()
    clock.advance(2)
    fake.calls.clear()
    schedule.all_closed()
    assert schedule.pending == "full pass"
    clock.advance(2)
    assert fake.calls == ["unfreeze", ("collect", 2), "freeze"]
    # nothing frozen since: leaving again costs nothing
    fake.calls.clear()
    schedule.all_closed()
    clock.advance(10)
    assert fake.calls == []


def test_a_client_coming_back_puts_the_full_pass_off(clock):
    schedule, fake = _schedule(clock, burst=1, settle=2.0)
    schedule.opened()
    clock.advance(2)
    fake.calls.clear()
    schedule.all_closed()
    clock.advance(1)
    schedule.opened()
    clock.advance(1.5)
    assert "unfreeze" not in fake.calls
    clock.advance(0.5)  # the new one settles: a freeze, still no full pass
    assert fake.calls == [("collect", 1), "freeze"]


def test_no_full_pass_when_nothing_was_frozen(clock):
    schedule, fake = _schedule(clock)
    schedule.all_closed()
    clock.advance(60)
    assert fake.calls == [] and schedule.pending is None


def test_stop_cancels_what_is_scheduled(clock):
    schedule, fake = _schedule(clock, burst=1, settle=2.0)
    schedule.opened()
    schedule.stop()
    clock.advance(10)
    assert fake.calls == [] and not clock.getDelayedCalls()


def test_the_real_collector_takes_the_calls(clock):
    frozen = gc.get_freeze_count()
    schedule = CollectorSchedule(clock, burst=1, settle=1.0)
    keep = [object() for _ in range(3)], {"a": [1]}
    schedule.opened()
    clock.advance(1)
    try:
        assert gc.get_freeze_count() > frozen
        schedule.all_closed()
        clock.advance(1)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    del keep


# -- the API server's factory drives it --------------------------------------

def _open(factory):
    from twisted.internet.testing import StringTransport
    import base64
    import os
    from helpers.wsframes import Producer

    peer = IPv4Address("TCP", "127.0.0.1", 40000)
    proto = factory.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    transport.registerProducer(Producer(), True)
    proto.makeConnection(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    proto.dataReceived(
        (
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return proto


def test_connections_of_the_api_feed_the_schedule(harness):
    api = harness.tree.getServiceNamed("api")
    factory = api.factory
    fake = FakeCollector()
    factory.collector = CollectorSchedule(harness.clock, burst=3, settle=2.0, collector=fake)
    protos = [_open(factory) for _ in range(3)]
    harness.clock.advance(2)
    assert fake.calls == [("collect", 1), "freeze"]
    fake.calls.clear()
    for proto in protos:
        proto.connectionLost(Failure(ConnectionDone()))
    harness.clock.advance(2)
    assert fake.calls == ["unfreeze", ("collect", 2), "freeze"]


def test_an_applied_reload_freezes_and_a_refused_one_does_not(harness):
    api = harness.tree.getServiceNamed("api")
    fake = FakeCollector()
    api.factory.collector = CollectorSchedule(harness.clock, collector=fake)
    api._on_event(Event("system.config_changed", data={"status": "refused", "who": "x", "changed": []}))
    api._on_event(Event("camera.connected", data={"status": "applied"}))
    assert fake.calls == []
    api._on_event(Event("system.config_changed", data={"status": "applied", "who": "x", "changed": ["server"]}))
    assert fake.calls == [("collect", 1), "freeze"]
