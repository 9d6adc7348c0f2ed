"""start_recording and stop_recording through the dispatcher on the whole
wiring (fake MediaMTX, fake keep-alive readers): results, errors, the
path's recording fields, notifications and metrics."""
from __future__ import annotations

import pytest

from camservice.timeutil import iso_timestamp


@pytest.fixture
def operator(harness):
    return harness.session("operator")


def test_start_recording_answers_with_the_file_and_turns_recording_on_in_the_path(harness, operator):
    reply = harness.call(operator, "start_recording", {"device": "camera1000", "format": "mkv", "duration": 30})
    now = harness.clock.seconds()
    assert reply["result"] == {
        "device": "camera1000",
        "filename": "camera1000_2023-11-14_22-13-20.mkv",
        "status": "RECORDING",
        "start_time": iso_timestamp(now),
        "format": "mkv",
    }
    conf = harness.mediamtx.configs["camera1000"]
    assert conf["record"] is True and conf["recordFormat"] == "fmp4"
    assert "/.parts/" in conf["recordPath"] and conf["recordPath"].endswith("%path_%s-%f")
    assert harness.mediamtx.configs["camera1001"]["record"] is False
    assert harness.holders.held() == ["camera1000"]
    (note,) = [n for n in harness.sent(operator) if n["method"] == "recording_status_update"]
    assert note["params"]["device"] == "camera1000" and note["params"]["status"] == "STARTED"

    again = harness.call(operator, "start_recording", {"device": "camera1000"})
    assert again["error"]["code"] == -32020
    assert again["error"]["data"]["state"] == "recording"
    assert again["error"]["data"]["filename"] == reply["result"]["filename"]

    metrics = harness.call(harness.session("admin"), "get_metrics")["result"]["recording_metrics"]
    assert metrics["active_recordings"] == 1 and metrics["recordings"]["camera1000"]["format"] == "mkv"
    stream = harness.call(operator, "get_stream_status", {"device": "camera1000"})["result"]
    assert stream["recording"]["filename"] == reply["result"]["filename"]
    assert stream["recording"]["stops_at"] == iso_timestamp(now + 30)
    other = harness.call(operator, "get_stream_status", {"device": "camera1001"})["result"]
    assert other["recording"] is None


def test_stop_recording_of_a_camera_not_recording_is_invalid_state(harness, operator):
    reply = harness.call(operator, "stop_recording", {"device": "camera1000"})
    assert reply["error"]["code"] == -32020
    assert reply["error"]["data"]["state"] == "not_recording"


def test_a_recording_that_got_no_video_fails_with_ffmpeg_as_the_dependency(harness, operator):
    harness.call(operator, "start_recording", {"device": "camera1000"})
    reply = harness.call(operator, "stop_recording", {"device": "camera1000"})
    assert reply["error"]["code"] == -32050
    assert reply["error"]["data"]["dependency"] == "ffmpeg"
    assert reply["error"]["data"]["detail"] == "no video was recorded"
    failed = [n["params"] for n in harness.sent(operator) if n["method"] == "recording_status_update"][-1]
    assert failed["status"] == "FAILED" and failed["device"] == "camera1000"
    assert harness.mediamtx.configs["camera1000"]["record"] is False
    assert harness.holders.held() == []


@pytest.mark.parametrize("params,param", [
    ({"device": "camera1000", "format": "avi"}, "format"),
    ({"device": "camera1000", "duration": 0}, "duration"),
    ({"device": "camera1000", "duration": 86401}, "duration"),
    ({"device": "camera1000", "duration": 1.5}, "duration"),
    ({"device": "camera1000", "quality": 1}, "quality"),
    ({}, "device"),
])
def test_bad_params_are_refused(harness, operator, params, param):
    reply = harness.call(operator, "start_recording", params)
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["param"] == param


def test_unknown_cameras_are_not_found(harness, operator):
    reply = harness.call(operator, "start_recording", {"device": "camera77"})
    assert reply["error"]["code"] == -32010 and reply["error"]["data"]["resource"] == "camera"


def test_a_camera_limited_operator_records_only_its_camera(harness):
    limited = harness.session("operator", cameras=["camera1001"])
    reply = harness.call(limited, "start_recording", {"device": "camera1000"})
    assert reply["error"]["code"] == -32002


def test_server_info_lists_recordings_and_their_formats(harness, operator):
    info = harness.call(operator, "get_server_info")["result"]
    assert "recordings" in info["capabilities"]
    assert info["supported_formats"] == ["fmp4", "mp4", "mkv"]
