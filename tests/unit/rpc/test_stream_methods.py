"""start_streaming, stop_streaming, get_stream_url, get_stream_status and
get_streams through the dispatcher, against the fake MediaMTX and fake
keep-alive readers (``fakes.holders``: holding a camera adds a reader and
an RTSP session with ``?camservice=hold`` to its path)."""
from __future__ import annotations

import json

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from camservice.mediamtx.breaker import BreakerState
from camservice.timeutil import iso_timestamp

RTSP_URL = "rtsp://127.0.0.1:8554/camera1000"


def send(harness, session, method, params=None) -> defer.Deferred:
    """The reply to one request, as a Deferred (it may need the clock)."""
    message = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    reply = harness.dispatcher.handle(session, json.dumps(message))
    return defer.maybeDeferred(lambda: reply).addCallback(json.loads)


def drive(harness, d: defer.Deferred, step: float = 0.1, limit: float = 120.0) -> dict:
    """Advance the clock in ``step``s until ``d`` fires; its reply."""
    results = []
    d.addBoth(results.append)
    waited = 0.0
    while not results:
        assert waited < limit, f"no reply within {limit} s"
        harness.clock.advance(step)
        waited += step
    assert not isinstance(results[0], Failure), results[0]
    return results[0]


@pytest.fixture
def operator(harness):
    return harness.session("operator")


def start(harness, session, camera="camera1000"):
    reply = harness.call(session, "start_streaming", {"device": camera})
    assert "result" in reply, reply
    return reply["result"]


def path_changes(harness):
    """Calls that changed a path configuration (MediaMTX v1.20.1 closes a
    live path, dropping its viewers, when its configuration changes)."""
    return [c for c in harness.mediamtx.calls if c[0] in ("replace", "delete")]


def viewers(harness, camera="camera1000"):
    """Readers of the path that are not camservice's keep-alive reader."""
    return [r for r in harness.mediamtx.live[camera]["readers"] if not r["id"].startswith("hold-")]


# -- start_streaming --------------------------------------------------------

def test_start_streaming_answers_once_the_path_is_ready(harness, operator):
    assert not harness.mediamtx.live["camera1000"]["ready"]  # on demand, nobody watching
    result = start(harness, operator)
    assert result == {
        "device": "camera1000",
        "stream_name": "camera1000",
        "stream_url": RTSP_URL,
        "status": "STARTED",
        "start_time": iso_timestamp(harness.clock.seconds()),
        "auto_close_after": None,
    }
    # a keep-alive reader keeps it running; the path configuration is untouched
    assert harness.holders.held() == ["camera1000"]
    assert harness.mediamtx.live["camera1000"]["ready"]
    assert path_changes(harness) == []


def test_start_streaming_twice_keeps_the_first_start_time(harness, operator):
    first = start(harness, operator)
    harness.clock.advance(30)
    assert start(harness, operator)["start_time"] == first["start_time"]


def test_start_streaming_a_network_camera_holds_it_open(harness, operator):
    result = start(harness, operator, "camera1001")
    assert result["stream_url"] == "rtsp://127.0.0.1:8554/camera1001"
    assert harness.holders.held() == ["camera1001"]
    assert harness.mediamtx.configs["camera1001"]["sourceOnDemand"] is True  # unchanged
    assert path_changes(harness) == []


def test_start_streaming_waits_for_a_slow_source(harness, operator):
    harness.mediamtx.auto_publish = False
    d = send(harness, operator, "start_streaming", {"device": "camera1000"})
    harness.clock.advance(0.2)
    harness.clock.advance(0.2)
    assert not d.called
    harness.mediamtx.publish("camera1000")
    reply = drive(harness, d, step=0.2)
    assert reply["result"]["status"] == "STARTED"


def test_start_streaming_waits_for_the_keepalive_reader_not_just_a_ready_path(harness, operator):
    harness.mediamtx.publish("camera1000")  # someone is watching: the path is ready already
    harness.mediamtx.add_reader("camera1000")
    harness.holders.connect_at_once = False  # FFmpeg takes a while to connect
    d = send(harness, operator, "start_streaming", {"device": "camera1000"})
    for _ in range(5):
        harness.clock.advance(0.2)
    assert not d.called  # a ready path alone would stop when the viewer leaves
    harness.holders.connect("camera1000")
    reply = drive(harness, d, step=0.2, limit=0.2)
    assert reply["result"]["status"] == "STARTED"


def test_start_streaming_gives_up_when_the_keepalive_reader_never_connects(harness, operator):
    harness.mediamtx.publish("camera1000")
    harness.holders.connect_at_once = False
    timeout = harness.config.mediamtx.source_start_timeout
    d = send(harness, operator, "start_streaming", {"device": "camera1000"})
    for _ in range(int(timeout / 0.2) - 1):
        harness.clock.advance(0.2)
    assert not d.called
    reply = drive(harness, d, step=0.2, limit=1.0)
    assert reply["error"]["code"] == -32050
    assert harness.holders.held() == []


def test_start_streaming_gives_up_when_the_source_never_publishes(harness, operator):
    harness.mediamtx.auto_publish = False
    on_demand = dict(harness.mediamtx.configs["camera1000"])
    timeout = harness.config.mediamtx.source_start_timeout
    d = send(harness, operator, "start_streaming", {"device": "camera1000"})
    assert harness.holders.held() == ["camera1000"]  # it was asked to run
    for _ in range(int(timeout / 0.1) - 2):
        harness.clock.advance(0.1)
    assert not d.called  # just short of the timeout
    reply = drive(harness, d, step=0.1, limit=1.0)
    error = reply["error"]
    assert error["code"] == -32050
    assert error["data"]["dependency"] == "ffmpeg"
    assert f"{timeout} s" in error["data"]["detail"]
    # back to on demand, as before
    assert harness.holders.held() == []
    assert harness.mediamtx.rtsp_sessions == {}
    assert harness.mediamtx.configs["camera1000"] == on_demand
    status = harness.call(operator, "get_stream_status", {"device": "camera1000"})["result"]
    assert status["status"] == "INACTIVE" and status["start_time"] is None


def test_start_streaming_a_network_camera_that_never_answers_blames_the_camera(harness, operator):
    harness.mediamtx.auto_publish = False
    reply = drive(harness, send(harness, operator, "start_streaming", {"device": "camera1001"}))
    assert reply["error"]["code"] == -32050
    assert reply["error"]["data"]["dependency"] == "camera"
    assert harness.holders.held() == []


def test_start_streaming_needs_an_operator(harness):
    reply = harness.call(harness.session("viewer"), "start_streaming", {"device": "camera1000"})
    assert reply["error"]["code"] == -32002
    assert harness.holders.held() == []


# -- get_stream_status ----------------------------------------------------------

def test_get_stream_status_of_an_idle_camera(harness, operator):
    result = harness.call(operator, "get_stream_status", {"device": "camera1000"})["result"]
    assert result["status"] == "INACTIVE"
    assert result["ready"] is False
    assert result["mediamtx_path"] == {"exists": True, "ready": False, "readers": 0}
    assert result["metrics"]["fps"] == 0
    assert result["start_time"] is None


def test_get_stream_status_of_a_streaming_camera_counts_readers(harness, operator):
    started = start(harness, operator)
    harness.mediamtx.add_reader("camera1000")
    harness.mediamtx.add_reader("camera1000")
    harness.clock.advance(20)
    result = harness.call(harness.session("viewer"), "get_stream_status", {"device": "camera1000"})["result"]
    assert result["device"] == "camera1000" and result["stream_name"] == "camera1000"
    assert result["status"] == "ACTIVE"
    assert result["ready"] is True
    assert result["mediamtx_path"] == {"exists": True, "ready": True, "readers": 2}
    assert result["ffmpeg_process"]["running"] is True
    assert result["ffmpeg_process"]["uptime"] == 20
    assert result["metrics"]["bytes_sent"] == harness.mediamtx.live["camera1000"]["outboundBytes"]
    assert result["metrics"]["bitrate"] == harness.mediamtx.live["camera1000"]["inboundBytes"] * 8 // 20
    assert result["metrics"]["fps"] == 10
    assert result["start_time"] == started["start_time"]


def test_readers_leave_out_camservices_keepalive_reader(harness, operator):
    start(harness, operator)
    viewer = harness.session("viewer")
    assert len(harness.mediamtx.live["camera1000"]["readers"]) == 1  # the keep-alive reader
    status = harness.call(viewer, "get_stream_status", {"device": "camera1000"})["result"]
    assert status["mediamtx_path"]["readers"] == 0
    assert harness.call(viewer, "get_stream_url", {"device": "camera1000"})["result"]["active_consumers"] == 0
    assert harness.call(viewer, "get_streams")["result"][0]["readers"] == 0
    harness.mediamtx.add_reader("camera1000")
    status = harness.call(viewer, "get_stream_status", {"device": "camera1000"})["result"]
    assert status["mediamtx_path"]["readers"] == 1
    assert harness.call(viewer, "get_stream_url", {"device": "camera1000"})["result"]["active_consumers"] == 1
    assert harness.call(viewer, "get_streams")["result"][0]["readers"] == 1


def test_a_reader_that_only_looks_like_camservices_own_is_counted(harness, operator):
    harness.mediamtx.add_reader("camera1001")
    # the keep-alive query without camservice's internal credential
    harness.mediamtx.rtsp_sessions["x"] = {"id": "x", "path": "camera1001", "state": "read",
                                           "query": "camservice=hold"}
    status = harness.call(operator, "get_stream_status", {"device": "camera1001"})["result"]
    assert status["mediamtx_path"]["readers"] == 1


def test_camservices_own_reader_is_not_counted_even_when_nothing_holds_the_stream(harness, operator):
    # a live-frame tap of a watched stream reads as the keep-alive readers do
    harness.mediamtx.add_reader("camera1001")
    harness.mediamtx.add_reader("camera1001")
    harness.mediamtx.rtsp_sessions["tap"] = {"id": "tap", "path": "camera1001", "state": "read",
                                             "query": harness.holders.query}
    status = harness.call(operator, "get_stream_status", {"device": "camera1001"})["result"]
    assert status["mediamtx_path"]["readers"] == 1


def test_a_stream_nobody_reads_asks_mediamtx_nothing_more(harness, operator):
    harness.call(operator, "get_stream_status", {"device": "camera1001"})
    assert not [c for c in harness.mediamtx.calls if c[0] == "list_rtsp_sessions"]


def test_get_stream_status_while_starting(harness, operator):
    harness.mediamtx.auto_publish = False
    d = send(harness, operator, "start_streaming", {"device": "camera1000"})
    result = harness.call(operator, "get_stream_status", {"device": "camera1000"})["result"]
    assert result["status"] == "STARTING"
    harness.mediamtx.publish("camera1000")
    drive(harness, d)


def test_get_stream_status_when_mediamtx_is_down(harness, operator):
    harness.mediamtx.down = True
    reply = drive(harness, send(harness, operator, "get_stream_status", {"device": "camera1000"}))
    assert reply["error"]["code"] == -32050
    assert reply["error"]["data"]["dependency"] == "mediamtx"
    assert "connection refused" in reply["error"]["data"]["detail"]


def test_requests_fail_fast_while_the_breaker_is_open(harness, operator):
    harness.mediamtx.down = True
    threshold = harness.config.mediamtx.breaker_failure_threshold
    for _ in range(threshold):
        harness.clock.advance(harness.config.mediamtx.health_check_interval)
    assert harness.controller.breaker.state is BreakerState.OPEN
    calls = len(harness.mediamtx.calls)
    for method in ("get_stream_status", "start_streaming", "get_streams"):
        params = {"device": "camera1000"} if method != "get_streams" else None
        reply = harness.call(operator, method, params)  # answered at once
        assert reply["error"]["code"] == -32050, method
        assert reply["error"]["data"]["dependency"] == "mediamtx"
        assert reply["error"]["data"]["detail"]
    assert len(harness.mediamtx.calls) == calls
    assert harness.holders.held() == []


@pytest.mark.parametrize(
    "method", ["start_streaming", "stop_streaming", "get_stream_url", "get_stream_status"]
)
def test_an_unknown_camera_is_not_found(harness, operator, method):
    reply = harness.call(operator, method, {"device": "camera9999"})
    assert reply["error"]["code"] == -32010
    assert reply["error"]["data"]["id"] == "camera9999"
    assert not [c for c in harness.mediamtx.calls if "camera9999" in c]


def test_a_camera_outside_the_allow_list_is_refused(harness):
    session = harness.session("operator", cameras=["camera1001"])
    reply = harness.call(session, "get_stream_status", {"device": "camera1000"})
    assert reply["error"]["code"] == -32002
    assert reply["error"]["data"]["camera"] == "camera1000"


# -- get_stream_url -------------------------------------------------------------

def test_get_stream_url_ready_when_publishing(harness, operator):
    start(harness, operator)
    harness.mediamtx.add_reader("camera1000")
    result = harness.call(operator, "get_stream_url", {"device": "camera1000"})["result"]
    assert result == {
        "device": "camera1000",
        "stream_name": "camera1000",
        "stream_url": RTSP_URL,
        "available": True,
        "active_consumers": 1,
        "stream_status": "READY",
    }


def test_get_stream_url_not_ready_when_idle(harness, operator):
    result = harness.call(operator, "get_stream_url", {"device": "camera1000"})["result"]
    assert result["stream_url"] == RTSP_URL
    assert result["available"] is False
    assert result["stream_status"] == "NOT_READY"


def test_get_stream_url_still_answers_when_mediamtx_is_down(harness, operator):
    harness.mediamtx.down = True
    result = drive(harness, send(harness, operator, "get_stream_url", {"device": "camera1000"}))["result"]
    assert result["stream_status"] == "ERROR"
    assert result["stream_url"] == RTSP_URL
    assert result["available"] is False and result["active_consumers"] == 0


# -- stop_streaming -------------------------------------------------------------

def test_stop_streaming_with_readers_left_keeps_the_stream(harness, operator):
    started = start(harness, operator)
    harness.mediamtx.add_reader("camera1000")
    harness.clock.advance(42)
    result = harness.call(operator, "stop_streaming", {"device": "camera1000"})["result"]
    assert result == {
        "device": "camera1000",
        "stream_name": "camera1000",
        "status": "STOPPED",
        "start_time": started["start_time"],
        "end_time": iso_timestamp(harness.clock.seconds()),
        "duration": 42,
        "stream_continues": True,
    }
    assert harness.holders.held() == []  # back to on demand
    assert viewers(harness) and len(harness.mediamtx.live["camera1000"]["readers"]) == 1
    assert path_changes(harness) == []


def test_stop_streaming_without_readers_ends_the_stream(harness, operator):
    start(harness, operator)
    result = harness.call(operator, "stop_streaming", {"device": "camera1000"})["result"]
    assert result["status"] == "STOPPED"
    assert result["stream_continues"] is False


def test_stop_streaming_releases_the_keepalive_reader(harness, operator):
    start(harness, operator)
    assert harness.holders.holds("camera1000")
    assert list(harness.mediamtx.rtsp_sessions) == ["hold-camera1000"]
    harness.call(operator, "stop_streaming", {"device": "camera1000"})
    assert not harness.holders.holds("camera1000")
    assert harness.mediamtx.rtsp_sessions == {}
    assert harness.mediamtx.live["camera1000"]["readers"] == []
    status = harness.call(operator, "get_stream_status", {"device": "camera1000"})["result"]
    assert status["start_time"] is None


def test_start_streaming_after_a_stop_has_a_new_start_time(harness, operator):
    start(harness, operator)
    harness.call(operator, "stop_streaming", {"device": "camera1000"})
    harness.clock.advance(60)
    assert start(harness, operator)["start_time"] == iso_timestamp(harness.clock.seconds())


def test_stop_streaming_twice_is_invalid_state(harness, operator):
    start(harness, operator)
    harness.call(operator, "stop_streaming", {"device": "camera1000"})
    reply = harness.call(operator, "stop_streaming", {"device": "camera1000"})
    assert reply["error"]["code"] == -32020
    assert reply["error"]["data"]["state"] == "not_streaming"
    assert reply["error"]["data"]["allowed_states"] == ["streaming"]


def test_stop_streaming_never_started_is_invalid_state(harness, operator):
    reply = harness.call(operator, "stop_streaming", {"device": "camera1001"})
    assert reply["error"]["code"] == -32020


def test_stop_streaming_when_mediamtx_is_down_keeps_streaming(harness, operator):
    start(harness, operator)
    harness.mediamtx.down = True
    reply = drive(harness, send(harness, operator, "stop_streaming", {"device": "camera1000"}))
    assert reply["error"]["code"] == -32050
    assert reply["error"]["data"]["dependency"] == "mediamtx"
    assert harness.holders.held() == ["camera1000"]  # an error changed nothing
    harness.mediamtx.down = False
    # recovers after the breaker's reset timeout; then stopping works
    for _ in range(10):
        harness.clock.advance(harness.config.mediamtx.health_check_interval)
    result = harness.call(operator, "stop_streaming", {"device": "camera1000"})["result"]
    assert result["status"] == "STOPPED"


def test_viewers_stay_connected_across_start_and_stop_streaming(harness, operator):
    harness.mediamtx.reload_closes_paths = True  # MediaMTX v1.20.1's reload rules
    harness.mediamtx.publish("camera1000")  # someone watches on demand
    harness.mediamtx.add_reader("camera1000")
    calls = len(harness.mediamtx.calls)
    start(harness, operator)
    assert len(viewers(harness)) == 1, "start_streaming disconnected the viewer"
    harness.mediamtx.add_reader("camera1000")
    result = harness.call(operator, "stop_streaming", {"device": "camera1000"})["result"]
    assert len(viewers(harness)) == 2, "stop_streaming disconnected the viewers"
    assert result["stream_continues"] is True
    assert harness.mediamtx.live["camera1000"]["ready"]
    # neither touched the path configuration
    assert not [c for c in harness.mediamtx.calls[calls:] if c[0] in ("add", "replace", "delete")]


def test_reconciliation_leaves_a_started_stream_alone(harness, operator):
    harness.mediamtx.reload_closes_paths = True
    start(harness, operator)
    harness.mediamtx.add_reader("camera1000")
    harness.clock.advance(harness.config.mediamtx.reconcile_interval)
    assert path_changes(harness) == []
    assert len(viewers(harness)) == 1 and harness.holders.holds("camera1000")


def test_a_hold_released_by_a_disconnect_forgets_the_start_time(harness, operator):
    from camservice.cameras.model import CameraStatus

    start(harness, operator)
    harness.clock.advance(30)
    harness.registry.update("camera1000", status=CameraStatus.DISCONNECTED)
    assert not harness.holders.holds("camera1000")  # the stream manager let the reader go
    status = harness.call(operator, "get_stream_status", {"device": "camera1000"})["result"]
    assert status["start_time"] is None
    harness.registry.update("camera1000", status=CameraStatus.CONNECTED)
    harness.clock.advance(30)
    assert start(harness, operator)["start_time"] == iso_timestamp(harness.clock.seconds())


# -- get_streams ------------------------------------------------------------------

def test_get_streams_lists_every_camera_path(harness, operator):
    start(harness, operator)
    harness.mediamtx.add_reader("camera1000")
    result = harness.call(harness.session("viewer"), "get_streams")["result"]
    assert result == [
        {"name": "camera1000", "source": "rtspSession", "ready": True, "readers": 1,
         "bytes_sent": harness.mediamtx.live["camera1000"]["outboundBytes"]},
        # API.md types source as a string: "none" while nothing publishes
        {"name": "camera1001", "source": "none", "ready": False, "readers": 0, "bytes_sent": 0},
    ]


def test_get_streams_respects_the_camera_allow_list(harness):
    result = harness.call(harness.session("viewer", cameras=["camera1001"]), "get_streams")["result"]
    assert [s["name"] for s in result] == ["camera1001"]
    assert harness.call(harness.session("viewer", cameras=[]), "get_streams")["result"] == []


def test_get_streams_sorts_by_camera_number(harness):
    harness.mediamtx.external_path("camera20")
    harness.mediamtx.external_path("camera3")
    result = harness.call(harness.session("viewer"), "get_streams")["result"]
    assert [s["name"] for s in result] == ["camera3", "camera20", "camera1000", "camera1001"]
    harness.clock.advance(harness.config.mediamtx.reconcile_interval)  # and they are gone again
    assert set(harness.mediamtx.configs) == {"camera1000", "camera1001"}


def test_get_streams_leaves_out_foreign_paths(harness):
    for name in ("lobby", "camera_x", "mycamera1"):
        harness.mediamtx.external_path(name)
    reply = harness.call(harness.session("viewer"), "get_streams")
    assert "result" in reply, reply
    assert [s["name"] for s in reply["result"]] == ["camera1000", "camera1001"]
    for name in ("lobby", "camera_x", "mycamera1"):
        assert harness.mediamtx.configs[name]  # and they are left alone


def test_get_streams_when_mediamtx_is_down(harness):
    harness.mediamtx.down = True
    reply = drive(harness, send(harness, harness.session("viewer"), "get_streams"))
    assert reply["error"]["code"] == -32050
    assert reply["error"]["data"]["dependency"] == "mediamtx"
    assert reply["error"]["data"]["detail"]
