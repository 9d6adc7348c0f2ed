"""The stream manager: holds for several reasons share one keep-alive
reader, a disconnect drops every hold, and holds on one camera are
serialised (against the fake MediaMTX and fake readers of the harness)."""
from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from camservice.cameras.model import CameraStatus
from camservice.media.errors import CameraNotConnected, SourceDidNotStart


@pytest.fixture
def streams(harness):
    return harness.tree.getServiceNamed("streams")


def run(harness, d, step=0.1, limit=60.0):
    """Advance the clock until ``d`` fires; its result (or Failure)."""
    out = []
    d.addBoth(out.append)
    waited = 0.0
    while not out:
        assert waited < limit, "never fired"
        harness.clock.advance(step)
        waited += step
    return out[0]


def test_two_reasons_share_one_reader_until_both_let_go(harness, streams):
    began = run(harness, streams.keep_running("camera1000", "streaming"))
    assert began == harness.clock.seconds()
    harness.clock.advance(5)
    assert run(harness, streams.keep_running("camera1000", "recording")) == harness.clock.seconds()
    assert streams.held() == {"camera1000": ("recording", "streaming")}
    assert harness.holders.held() == ["camera1000"]
    assert run(harness, streams.let_go("camera1000", "streaming")) == began
    assert harness.holders.holds("camera1000"), "the recording still needs the source"
    run(harness, streams.let_go("camera1000", "recording"))
    assert not harness.holders.holds("camera1000")
    assert streams.held() == {}


def test_holding_again_for_the_same_reason_keeps_the_first_start_time(harness, streams):
    first = run(harness, streams.keep_running("camera1000", "streaming"))
    harness.clock.advance(10)
    assert run(harness, streams.keep_running("camera1000", "streaming")) == first


def test_letting_go_of_a_reason_that_does_not_hold_changes_nothing(harness, streams):
    run(harness, streams.keep_running("camera1000", "streaming"))
    assert run(harness, streams.let_go("camera1000", "recording")) is None
    assert harness.holders.holds("camera1000")


def test_a_disconnect_drops_every_hold(harness, streams):
    run(harness, streams.keep_running("camera1000", "streaming"))
    run(harness, streams.keep_running("camera1000", "recording"))
    harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED)
    assert streams.held() == {}
    assert not harness.holders.holds("camera1000")


def test_other_camera_events_keep_the_holds(harness, streams):
    run(harness, streams.keep_running("camera1000", "streaming"))
    harness.registry.update("camera1000", name="porch")
    assert streams.held() == {"camera1000": ("streaming",)}


def test_a_source_that_never_publishes_is_let_go(harness, streams):
    harness.mediamtx.auto_publish = False
    result = run(harness, streams.keep_running("camera1000", "recording"))
    assert isinstance(result, Failure) and result.check(SourceDidNotStart)
    assert result.value.dependency == "ffmpeg"
    assert not harness.holders.holds("camera1000")
    assert streams.held() == {}


def test_a_failed_second_reason_keeps_the_first(harness, streams):
    run(harness, streams.keep_running("camera1000", "streaming"))
    harness.mediamtx.live["camera1000"].update(ready=False, available=False)  # the source died meanwhile
    harness.mediamtx.auto_publish = False
    result = run(harness, streams.keep_running("camera1000", "recording"))
    assert result.check(SourceDidNotStart)
    assert streams.held() == {"camera1000": ("streaming",)}
    assert harness.holders.holds("camera1000")


def test_a_disconnected_camera_cannot_be_held(harness, streams):
    harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED)
    result = run(harness, streams.keep_running("camera1000", "streaming"))
    assert result.check(CameraNotConnected) and result.value.status == "DISCONNECTED"
    assert not harness.holders.holds("camera1000")


def test_holds_on_one_camera_run_one_after_the_other(harness, streams):
    harness.holders.connect_at_once = False
    began = harness.clock.seconds()
    first = streams.keep_running("camera1000", "streaming")
    second = streams.let_go("camera1000", "streaming")
    harness.clock.advance(1)
    assert not first.called and not second.called, "the release must wait for the start"
    harness.holders.connect("camera1000")
    assert run(harness, first) == began
    assert run(harness, second) == began
    assert not harness.holders.holds("camera1000")


def test_totals_leave_out_camservices_own_reader(harness, streams):
    run(harness, streams.keep_running("camera1000", "streaming"))
    harness.mediamtx.add_reader("camera1000")
    totals = run(harness, defer.ensureDeferred(streams.totals()))
    assert totals == {"active_streams": 1, "total_streams": 2, "total_viewers": 1}
