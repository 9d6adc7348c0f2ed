"""Recordings through the real MediaMTX and FFmpeg, from a real WebSocket
client: files that ffprobe reads with the right duration in each format,
``duration`` stopping by itself, two cameras at once, viewers kept
through start and stop, MediaMTX killed mid-recording and a camera
removed mid-recording."""
from __future__ import annotations

import functools
import json
import os
import re
import signal
from pathlib import Path

import pytest
import pytest_twisted
import treq
import yaml
from twisted.internet import defer, reactor, task
from twisted.internet.error import ConnectError

from helpers.processes import Child, run
from helpers.waiting import until

TWO_CAMERAS = {"declared": [
    {"id": "camera1000", "kind": "virtual", "name": "Pattern", "resolution": "320x240", "fps": 10},
    {"id": "camera1001", "kind": "virtual", "name": "Second", "resolution": "320x240", "fps": 10},
]}


@pytest.fixture
def service_settings():
    return {
        "mediamtx": {"reconcile_interval": 1, "retry_attempts": 2, "retry_initial_delay": 0.1,
                     "request_timeout": 2, "on_demand_close_after": 2},
        "cameras": TWO_CAMERAS,
    }


#: this file's conditions take up to 20 s unless a call says otherwise
_until = functools.partial(until, timeout=20.0)


async def sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def probe(path: Path) -> dict:
    """ffprobe's view of a finished file: format name, duration (s), and
    the video stream."""
    code, out, err = await run(reactor, ["ffprobe", "-v", "error", "-show_entries",
                                         "format=format_name,duration:stream=codec_name,width,height",
                                         "-of", "json", str(path)])
    assert code == 0, err
    info = json.loads(out)
    return {"format": info["format"]["format_name"], "duration": float(info["format"]["duration"]),
            "streams": info["streams"]}


async def decodes_end_to_end(path: Path) -> int:
    """Frames decoded from the whole file; fails on any decoding error."""
    code, out, err = await run(reactor, ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(path),
                                         "-f", "null", "-"], timeout=60)
    assert code == 0 and not err.strip(), err
    code, out, err = await run(reactor, ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)])
    assert code == 0, err
    return int(out.strip())


def recordings_dir(live) -> Path:
    return Path(live.config.media.recordings_dir)


def visible_files(live) -> list[str]:
    return sorted(n for n in os.listdir(recordings_dir(live)) if not n.startswith("."))


async def next_recording_update(client, timeout=30.0) -> dict:
    deadline = reactor.seconds() + timeout
    while True:
        d = client.notifications.get()
        d.addTimeout(max(0.1, deadline - reactor.seconds()), reactor)
        message = await d
        if message["method"] == "recording_status_update":
            return message["params"]


async def record(client, device, seconds, fmt=None) -> tuple[dict, dict, float]:
    params = {"device": device}
    if fmt is not None:
        params["format"] = fmt
    started = await client.call("start_recording", params)
    assert "result" in started, started
    t0 = reactor.seconds()
    await sleep(seconds)
    stopped = await client.call("stop_recording", {"device": device})
    assert "result" in stopped, stopped
    return started["result"], stopped["result"], t0


@pytest.mark.parametrize("fmt,extension,container", [
    ("fmp4", ".mp4", "mov,mp4,m4a,3gp,3g2,mj2"),
    ("mp4", ".mp4", "mov,mp4,m4a,3gp,3g2,mj2"),
    ("mkv", ".mkv", "matroska,webm"),
])
@pytest_twisted.ensureDeferred
async def test_start_wait_stop_gives_one_file_of_the_right_duration(live, fmt, extension, container):
    client = await live.authed_client("operator")
    started = await client.call("start_recording", {"device": "camera1000", "format": fmt})
    result = started["result"]
    assert set(result) == {"device", "filename", "status", "start_time", "format"}
    assert result["status"] == "RECORDING" and result["format"] == fmt and result["device"] == "camera1000"
    assert re.fullmatch(r"camera1000_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d" + re.escape(extension), result["filename"])
    note = await next_recording_update(client)
    assert note["status"] == "STARTED" and note["device"] == "camera1000" and note["filename"] == result["filename"]

    again = await client.call("start_recording", {"device": "camera1000"})
    assert again["error"]["code"] == -32020 and again["error"]["data"]["state"] == "recording"
    # MediaMTX reports the recording fields as camservice set them: the
    # periodic reconciliation finds nothing to change
    assert await live.controller.reconcile() == []
    configs = await _path_configs(live)
    assert configs["camera1000"]["record"] is True and configs["camera1001"]["record"] is False
    assert configs["camera1000"]["recordDeleteAfter"] == ""  # off: camservice owns retention

    t0 = reactor.seconds()
    await sleep(3.0)
    stopped = (await client.call("stop_recording", {"device": "camera1000"}))["result"]
    elapsed = reactor.seconds() - t0
    assert set(stopped) == {"device", "filename", "status", "start_time", "end_time", "duration", "file_size",
                            "format"}
    assert stopped["status"] == "STOPPED" and stopped["filename"] == result["filename"]
    assert abs(stopped["duration"] - elapsed) < 0.5
    note = await next_recording_update(client)
    assert note["status"] == "STOPPED" and note["reason"] == "requested"

    assert visible_files(live) == [result["filename"]]
    assert not (recordings_dir(live) / ".parts").exists() or not os.listdir(recordings_dir(live) / ".parts")
    path = recordings_dir(live) / result["filename"]
    assert path.stat().st_size == stopped["file_size"] > 0
    info = await probe(path)
    assert info["format"] == container
    assert info["streams"] == [{"codec_name": "h264", "width": 320, "height": 240}]
    assert abs(info["duration"] - stopped["duration"]) <= 1.0, (info, stopped)
    assert await decodes_end_to_end(path) >= 20

    not_recording = await client.call("stop_recording", {"device": "camera1000"})
    assert not_recording["error"]["code"] == -32020 and not_recording["error"]["data"]["state"] == "not_recording"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_duration_stops_the_recording_by_itself_with_a_notification(live):
    client = await live.authed_client("operator")
    started = (await client.call("start_recording", {"device": "camera1000", "duration": 2, "format": "mp4"}))
    filename = started["result"]["filename"]
    assert (await next_recording_update(client))["status"] == "STARTED"
    note = await next_recording_update(client, timeout=15)
    assert note == {**note, "device": "camera1000", "status": "STOPPED", "filename": filename,
                    "reason": "duration_reached"}
    assert 1.9 <= note["duration"] <= 2.5
    info = await probe(recordings_dir(live) / filename)
    assert abs(info["duration"] - 2) <= 1.0
    again = await client.call("stop_recording", {"device": "camera1000"})
    assert again["error"]["code"] == -32020
    await client.close()


@pytest_twisted.ensureDeferred
async def test_two_cameras_record_at_once(live):
    client = await live.authed_client("operator")
    first = (await client.call("start_recording", {"device": "camera1000"}))["result"]
    second = (await client.call("start_recording", {"device": "camera1001", "format": "mkv"}))["result"]
    admin = await live.authed_client("admin")
    metrics = (await admin.call("get_metrics"))["result"]["recording_metrics"]
    assert metrics["active_recordings"] == 2 and set(metrics["recordings"]) == {"camera1000", "camera1001"}
    await sleep(3.0)
    stopped = await defer.gatherResults([
        client.call("stop_recording", {"device": "camera1000"}),
        client.call("stop_recording", {"device": "camera1001"}),
    ])
    assert [s["result"]["filename"] for s in stopped] == [first["filename"], second["filename"]]
    assert visible_files(live) == sorted([first["filename"], second["filename"]])
    for s in stopped:
        info = await probe(recordings_dir(live) / s["result"]["filename"])
        assert abs(info["duration"] - s["result"]["duration"]) <= 1.0
    metrics = (await admin.call("get_metrics"))["result"]["recording_metrics"]
    assert metrics["active_recordings"] == 0 and metrics["finalized"] == 2
    await client.close()
    await admin.close()


class FrameCounter:
    """An RTSP viewer (FFmpeg) that reports the frames it has read."""

    def __init__(self, url: str):
        self.child = Child(reactor, ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url,
                                     "-f", "null", "-progress", "pipe:1", "-stats_period", "0.2", "-"])

    def frames(self) -> int:
        found = re.findall(r"^frame=(\d+)$", self.child.stdout, re.M)
        return int(found[-1]) if found else 0

    async def grows(self, timeout=10.0) -> int:
        before = self.frames()

        async def more():
            assert not self.child.ended.called, self.child.stderr
            return self.frames() >= before + 10

        await _until(more, timeout=timeout)
        return self.frames()


@pytest_twisted.ensureDeferred
async def test_a_viewer_keeps_receiving_frames_through_start_and_stop(live):
    client = await live.authed_client("operator")
    url = f"rtsp://127.0.0.1:{live.config.mediamtx.rtsp_port}/camera1000"
    viewer = FrameCounter(url)
    try:
        await viewer.grows(timeout=20)
        sessions_before = await _rtsp_readers(live)
        assert (await client.call("start_recording", {"device": "camera1000"}))["result"]["status"] == "RECORDING"
        await viewer.grows()
        await sleep(1.5)
        assert (await client.call("stop_recording", {"device": "camera1000"}))["result"]["status"] == "STOPPED"
        await viewer.grows()
        assert not viewer.child.ended.called
        # the viewer's RTSP session is the one it had from the beginning
        assert sessions_before <= await _rtsp_readers(live)
    finally:
        await viewer.child.stop()
    await client.close()


async def _path_configs(live) -> dict:
    response = await treq.get(live.api("/v3/config/paths/list"), auth=live.api_auth)
    return {item["name"]: item for item in (await response.json())["items"]}


async def _rtsp_readers(live) -> set:
    response = await treq.get(live.api("/v3/rtspsessions/list"), auth=live.api_auth)
    items = (await response.json())["items"]
    return {s["id"] for s in items if s["state"] == "read" and "camservice=hold" not in (s.get("query") or "")}


@pytest_twisted.ensureDeferred
async def test_mediamtx_killed_mid_recording_the_session_goes_on_and_the_file_plays(live):
    client = await live.authed_client("operator")
    started = (await client.call("start_recording", {"device": "camera1000", "format": "mp4"}))["result"]
    await sleep(3.0)
    process = live.tree.getServiceNamed("mediamtx-process")
    killed = process.pid
    os.kill(killed, signal.SIGKILL)

    async def restarted():
        return process.pid not in (None, killed) and live.controller.health.value == "up"

    await _until(restarted, timeout=30)

    async def recording_again():
        try:
            response = await treq.get(live.api("/v3/paths/get/camera1000"), auth=live.api_auth)
        except ConnectError:
            return False
        path = await response.json() if response.code == 200 else {}
        segments = list((recordings_dir(live) / ".parts").rglob("*.mp4"))
        return path.get("ready") and len(segments) >= 2

    await _until(recording_again, timeout=30)
    await sleep(3.0)
    stopped = (await client.call("stop_recording", {"device": "camera1000"}))["result"]
    assert stopped["filename"] == started["filename"]
    path = recordings_dir(live) / stopped["filename"]
    info = await probe(path)
    # what was recorded before the crash (less at most a part) and after
    assert info["duration"] >= 4.0, info
    assert await decodes_end_to_end(path) >= 40
    assert visible_files(live) == [stopped["filename"]]
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_camera_removed_mid_recording_is_finalized_with_the_reason(live, tmp_path):
    client = await live.authed_client("admin")
    started = (await client.call("start_recording", {"device": "camera1001"}))["result"]
    assert (await next_recording_update(client))["status"] == "STARTED"
    await sleep(2.5)
    source = Path(live.config.source)
    document = yaml.safe_load(source.read_text())
    document["cameras"]["declared"] = [c for c in document["cameras"]["declared"] if c["id"] != "camera1001"]
    source.write_text(yaml.safe_dump(document))
    reloaded = await client.call("reload_config")
    assert "result" in reloaded, reloaded
    note = await next_recording_update(client)
    assert note["device"] == "camera1001" and note["status"] == "STOPPED"
    assert note["reason"] == "camera_disconnected" and note["filename"] == started["filename"]
    info = await probe(recordings_dir(live) / started["filename"])
    assert info["duration"] >= 1.0
    await decodes_end_to_end(recordings_dir(live) / started["filename"])
    gone = await client.call("start_recording", {"device": "camera1001"})
    assert gone["error"]["code"] == -32010
    await client.close()


@pytest_twisted.ensureDeferred
async def test_shutdown_finalizes_a_recording(live):
    client = await live.authed_client("operator")
    started = (await client.call("start_recording", {"device": "camera1000", "format": "mkv"}))["result"]
    await sleep(2.5)
    await client.close()
    await live.tree.stopService()
    path = recordings_dir(live) / started["filename"]
    assert visible_files(live) == [started["filename"]]
    assert (await probe(path))["duration"] >= 1.5
    await decodes_end_to_end(path)
    state = json.loads((live.config.data_dir / "recordings.json").read_text())
    assert state["sessions"] == []


@pytest_twisted.ensureDeferred
async def test_storage_critical_stops_the_recording_and_refuses_new_ones(live):
    client = await live.authed_client("operator")
    started = (await client.call("start_recording", {"device": "camera1000"}))["result"]
    assert (await next_recording_update(client))["status"] == "STARTED"
    await sleep(2.0)
    live.tree.bus.publish("system.health", component="storage", status="critical", detail="96.0% used")
    note = await next_recording_update(client)
    assert note["status"] == "STOPPED" and note["reason"] == "storage_critical"
    await decodes_end_to_end(recordings_dir(live) / started["filename"])
    refused = await client.call("start_recording", {"device": "camera1001"})
    assert refused["error"]["code"] == -32020
    assert refused["error"]["data"]["state"] == "storage_critical" and refused["error"]["data"]["detail"] == "96.0% used"
    live.tree.bus.publish("system.health", component="storage", status="ok", detail="40.0% used")
    assert (await client.call("start_recording", {"device": "camera1001"}))["result"]["status"] == "RECORDING"
    await client.close()
