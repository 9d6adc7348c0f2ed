"""The stall watch: a ready path whose inbound bytes stay flat for
``media.stall_timeout`` has its publisher killed and its path reopened;
a path that keeps receiving, or is not ready, is left alone (against the
fake MediaMTX, whose ready sources receive bytes as the clock turns)."""
from __future__ import annotations

import pytest
from twisted.internet import defer

from camservice.media.stall import StallWatch

TIMEOUT = 6.0  # the default media.stall_timeout


@pytest.fixture
def watch(harness):
    killed = []

    def end_publishers(camera_id):
        killed.append(camera_id)
        return defer.succeed([4242])

    w = StallWatch(harness.config.media, harness.controller, harness.registry, harness.bus,
                   harness.tree.metrics, harness.clock, end_publishers)
    w.killed = killed
    harness.clock.advance(1)  # the controller's first probe: MediaMTX is up
    w.startService()
    yield w
    w.stopService()


@pytest.fixture
def health_events(harness):
    seen = []
    harness.bus.subscribe(lambda e: seen.append((e.device, (e.data or {}).get("status")))
                          if e.topic == "system.health" and (e.data or {}).get("component") == "stream" else None)
    return seen


def live(harness, camera="camera1000"):
    harness.mediamtx.publish(camera)
    harness.mediamtx.add_reader(camera)


def advance(harness, seconds, step=0.25):
    for _ in range(int(seconds / step)):
        harness.clock.advance(step)


def test_a_source_that_keeps_sending_is_left_alone(harness, watch, health_events):
    live(harness)
    advance(harness, 60)
    assert watch.killed == [] and health_events == []
    assert not [c for c in harness.mediamtx.calls if c[0] == "delete"]


def test_a_stalled_publisher_is_killed_and_its_path_reopened(harness, watch, health_events):
    live(harness)
    advance(harness, 2)
    harness.mediamtx.stalled.add("camera1000")
    advance(harness, TIMEOUT - 1.5)
    assert watch.killed == [], "restarted before the timeout"
    advance(harness, 2.5)
    assert watch.killed == ["camera1000"]
    assert ("delete", "camera1000") in harness.mediamtx.calls
    assert "camera1000" in harness.mediamtx.configs, "the path came back"
    assert health_events == [("camera1000", "stalled"), ("camera1000", "restarted")]
    assert harness.tree.metrics.stream_restarts._value.get() == 1


def test_a_network_source_is_reopened_without_killing_anything(harness, watch, health_events):
    live(harness, "camera1001")
    harness.mediamtx.stalled.add("camera1001")
    advance(harness, TIMEOUT + 2)
    assert watch.killed == []  # MediaMTX pulls it itself: reopening the path restarts it
    assert ("delete", "camera1001") in harness.mediamtx.calls
    assert [s for _, s in health_events] == ["stalled", "restarted"]


def test_a_path_that_is_not_ready_is_not_a_stall(harness, watch):
    harness.mediamtx.stalled.add("camera1000")  # not publishing at all: on demand, nobody reads
    advance(harness, 30)
    assert watch.killed == []


def test_a_restarted_source_is_watched_afresh(harness, watch):
    live(harness)
    harness.mediamtx.stalled.add("camera1000")
    advance(harness, TIMEOUT + 2)
    assert watch.killed == ["camera1000"]
    harness.mediamtx.stalled.discard("camera1000")
    live(harness)  # a new source publishes
    advance(harness, 60)
    assert watch.killed == ["camera1000"]


def test_nothing_is_restarted_while_mediamtx_is_down(harness, watch):
    live(harness)
    harness.mediamtx.stalled.add("camera1000")
    harness.mediamtx.down = True
    advance(harness, 30)
    assert watch.killed == []


def test_a_reload_changes_the_timeout(harness, watch):
    import dataclasses

    new = dataclasses.replace(harness.config, media=dataclasses.replace(harness.config.media, stall_timeout=20.0))
    watch.checkConfig(new)
    watch.reconfigService(new)
    live(harness)
    harness.mediamtx.stalled.add("camera1000")
    advance(harness, 12)
    assert watch.killed == []
    advance(harness, 10)
    assert watch.killed == ["camera1000"]


def test_viewed_streams_are_those_with_readers_besides_our_own(harness, watch):
    live(harness)  # a viewer
    harness.mediamtx.publish("camera1001")  # ready, no viewer
    advance(harness, 1.5)
    assert watch.viewed == {"camera1000"}
    harness.mediamtx.live["camera1000"]["readers"] = []
    harness.holders.hold("camera1000")  # only camservice's own reader left
    advance(harness, 1.5)
    assert watch.viewed == frozenset()
