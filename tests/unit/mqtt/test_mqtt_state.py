"""Reconnection delays, topic names and the retained-state bookkeeping,
on a Clock."""
from __future__ import annotations

import itertools

import pytest
from twisted.internet.task import Clock

from camservice.mqtt.backoff import Backoff
from camservice.mqtt.publisher import Coalescer, Publisher
from camservice.mqtt.topics import Topics, node_name, sanitize_level


def test_delays_double_up_to_the_cap_and_reset():
    b = Backoff(1, 10, random=lambda: 0.999999)
    delays = [round(b.next_delay(), 3) for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    b.reset()
    assert round(b.next_delay(), 3) == 1.0


def test_jitter_takes_between_half_and_all_of_each_step():
    values = itertools.cycle([0.0, 0.5])
    b = Backoff(2, 100, random=lambda: next(values))
    assert [b.next_delay() for _ in range(4)] == [1.0, 3.0, 4.0, 12.0]


def test_many_attempts_never_overflow():
    b = Backoff(0.5, 60, random=lambda: 0.0)
    for _ in range(2000):
        delay = b.next_delay()
    assert delay == 30.0


@pytest.mark.parametrize("host, node", [
    ("cam-box-1.example.org", "cam-box-1"),
    ("Lab Box#2", "Lab_Box_2"),
    ("a/b+c", "a_b_c"),
    ("", "node"),
])
def test_the_default_node_id_is_the_host_name_fit_for_a_topic_level(host, node):
    assert node_name(None, lambda: host) == node
    assert node_name("chosen", lambda: host) == "chosen"


def test_sanitize_caps_the_length():
    assert sanitize_level("x" * 100) == "x" * 64


def test_topic_names():
    t = Topics("camservice/site1", "node-a")
    assert t.availability == "camservice/site1/node-a/availability"
    assert t.rpc == "camservice/site1/node-a/rpc"
    assert t.state("camera3") == "camservice/site1/node-a/cameras/camera3/state"
    assert t.recording("camera3") == "camservice/site1/node-a/cameras/camera3/recording"
    assert t.event("snapshot.taken") == "camservice/site1/node-a/events/snapshot.taken"


class Wire:
    def __init__(self):
        self.up = True
        self.sent = []

    def send(self, topic, payload, retain):
        if self.up:
            self.sent.append((topic, payload, retain))
        return self.up


def test_a_retained_topic_is_sent_only_when_it_changes():
    wire = Wire()
    p = Publisher(wire.send)
    assert p.retain("a", b"1") is True
    assert p.retain("a", b"1") is False
    assert p.retain("a", b"2") is True
    assert wire.sent == [("a", b"1", True), ("a", b"2", True)]


def test_every_new_session_gets_all_retained_topics_again_and_clearings_owed():
    wire = Wire()
    p = Publisher(wire.send)
    p.retain("avail", b"online")
    p.retain("cam/state", b"{}")
    p.clear("cam/state")  # sent: forgotten
    wire.up = False
    p.disconnected()
    p.retain("other", b"x")  # kept for the next session
    p.retain("gone/state", b"{}")
    assert p.clear("gone/state") is False  # owed to the next session
    assert p.event("ev", b"e") is False  # events are not kept
    wire.up = True
    wire.sent.clear()
    assert p.connected() == 3
    assert wire.sent == [("avail", b"online", True), ("other", b"x", True), ("gone/state", b"", True)]
    # and, within the session, not again
    assert p.retain("avail", b"online") is False
    # the clearing was sent: not on the session after
    wire.sent.clear()
    p.disconnected()
    assert p.connected() == 2
    assert [t for t, _, _ in wire.sent] == ["avail", "other"]


def test_cleared_topics_are_forgotten_so_add_remove_cycles_do_not_grow_it():
    wire = Wire()
    p = Publisher(wire.send)
    p.retain("avail", b"online")
    for n in range(50):
        p.retain(f"cam{n}/state", b"{}")
        p.retain(f"cam{n}/recording", b"{}")
        assert p.clear(f"cam{n}/state") is True
        assert p.clear(f"cam{n}/recording") is True
    assert p.retained == {"avail": b"online"}
    assert p._sent == {"avail": b"online"}
    assert p.current("cam7/state") is None
    # a camera back after its clearing is published again
    assert p.retain("cam7/state", b"{}") is True


def test_flapping_is_flushed_once_as_the_state_it_ends_in():
    clock = Clock()
    flushed = []
    c = Coalescer(clock, 0.25, flushed.append)
    for _ in range(10):
        c.mark("camera1")
        clock.advance(0.01)
    c.mark("camera2")
    assert flushed == []
    clock.advance(0.25)
    assert flushed == ["camera1", "camera2"]
    c.mark("camera1")
    clock.advance(0.25)
    assert flushed == ["camera1", "camera2", "camera1"]


def test_no_delay_flushes_at_once_and_stop_forgets():
    clock = Clock()
    flushed = []
    Coalescer(clock, 0, flushed.append).mark("x")
    assert flushed == ["x"]
    c = Coalescer(clock, 1, flushed.append)
    c.mark("y")
    c.stop()
    clock.advance(2)
    assert flushed == ["x"] and not clock.getDelayedCalls()
