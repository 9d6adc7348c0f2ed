"""Cameras as live streams through the real MediaMTX, real FFmpeg and a
real WebSocket client; MediaMTX killed, paths tampered with, a network
camera added and surviving a restart."""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor, task

from camservice.config import load_config
from helpers.live import start_live
from helpers.processes import Child, run
from helpers.rtsp_source import RtspSource
from helpers.waiting import until


@pytest.fixture
def service_settings():
    return {
        "mediamtx": {
            "breaker_failure_threshold": 2,
            "breaker_reset_timeout": 1,
            "reconcile_interval": 1,
            "retry_attempts": 2,
            "retry_initial_delay": 0.1,
            "request_timeout": 2,
            "on_demand_close_after": 2,
        }
    }


#: this file's conditions take up to 20 s unless a call says otherwise
_until = functools.partial(until, timeout=20.0)


async def _video_packets(url: str, seconds: float = 1.0) -> int:
    """Packets of H264 video ffprobe reads from ``url`` in ``seconds``."""
    code, out, err = await run(
        reactor,
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
         "-read_intervals", f"%+{seconds}", "-count_packets",
         "-show_entries", "stream=codec_name,nb_read_packets", "-of", "json", url],
        timeout=30,
    )
    assert code == 0, err
    (stream,) = json.loads(out)["streams"]
    assert stream["codec_name"] == "h264"
    return int(stream["nb_read_packets"])


def _api(live, path):
    return f"http://127.0.0.1:{live.config.mediamtx.api_port}{path}"


async def _path_configs(live):
    response = await treq.get(_api(live, "/v3/config/paths/list"), auth=live.api_auth)
    return {item["name"]: item for item in (await response.json())["items"]}


@pytest_twisted.ensureDeferred
async def test_virtual_camera_streams_over_rtsp_and_hls_with_readers_counted(live):
    client = await live.authed_client("operator")
    camera = (await client.call("get_camera_list"))["result"]["cameras"][0]
    assert "camera1000" in await _path_configs(live)

    assert await _video_packets(camera["streams"]["rtsp"]) > 0

    playlist = await treq.get(camera["streams"]["hls"])  # follows MediaMTX's cookie-check redirect
    body = await playlist.text()
    assert playlist.code == 200 and body.startswith("#EXTM3U"), body[:200]

    reader = Child(reactor, ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                             camera["streams"]["rtsp"], "-f", "null", "-"])
    try:
        async def counted():
            reply = await client.call("get_stream_status", {"device": "camera1000"})
            status = reply["result"]
            return status if status["ready"] and status["mediamtx_path"]["readers"] >= 1 else None

        status = await _until(counted)
        assert status["status"] == "ACTIVE"
        assert status["mediamtx_path"]["exists"] is True
        assert status["metrics"]["bytes_sent"] > 0
        url = (await client.call("get_stream_url", {"device": "camera1000"}))["result"]
        assert url["available"] is True and url["stream_status"] == "READY"
        assert url["active_consumers"] >= 1
        cam = (await client.call("get_camera_status", {"device": "camera1000"}))["result"]
        assert cam["metrics"]["readers"] >= 1 and cam["metrics"]["bytes_sent"] > 0
        streams = (await client.call("get_streams"))["result"]
        assert [s["name"] for s in streams] == ["camera1000"] and streams[0]["ready"] is True
    finally:
        await reader.stop()
    await client.close()


@pytest_twisted.ensureDeferred
async def test_start_and_stop_streaming_keep_viewers_connected(live):
    client = await live.authed_client("operator")
    url = f"rtsp://127.0.0.1:{live.config.mediamtx.rtsp_port}/camera1000"
    before = await _path_configs(live)
    viewer = Child(reactor, ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-f", "null", "-"])
    try:
        async def watched():
            status = (await client.call("get_stream_status", {"device": "camera1000"}))["result"]
            return status["ready"] and status["mediamtx_path"]["readers"] == 1

        await _until(watched)
        started = await client.call("start_streaming", {"device": "camera1000"})
        assert started["result"]["status"] == "STARTED", started
        assert started["result"]["stream_url"] == url
        # the path is not reconfigured (that would drop its viewers)
        assert await _path_configs(live) == before
        status = (await client.call("get_stream_status", {"device": "camera1000"}))["result"]
        assert status["status"] == "ACTIVE" and status["start_time"]
        assert status["mediamtx_path"]["readers"] == 1  # camservice's own reader is not counted

        stopped = (await client.call("stop_streaming", {"device": "camera1000"}))["result"]
        assert stopped["status"] == "STOPPED" and stopped["stream_continues"] is True
        assert not viewer.ended.called
        assert await _video_packets(url) > 0
    finally:
        await viewer.stop()
    again = await client.call("stop_streaming", {"device": "camera1000"})
    assert again["error"]["code"] == -32020

    # without viewers, a started stream keeps running until stopped
    assert (await client.call("start_streaming", {"device": "camera1000"}))["result"]["status"] == "STARTED"
    await task.deferLater(reactor, live.config.mediamtx.on_demand_close_after + 1.5, lambda: None)
    status = (await client.call("get_stream_status", {"device": "camera1000"}))["result"]
    assert status["ready"] is True and status["mediamtx_path"]["readers"] == 0
    stopped = (await client.call("stop_streaming", {"device": "camera1000"}))["result"]
    assert stopped["stream_continues"] is False

    async def closed():
        return not (await client.call("get_stream_status", {"device": "camera1000"}))["result"]["ready"]

    await _until(closed, timeout=live.config.mediamtx.on_demand_close_after + 10)
    await client.close()


@pytest.mark.parametrize("service_settings", [{
    "mediamtx": {"breaker_failure_threshold": 2, "breaker_reset_timeout": 1, "reconcile_interval": 1,
                 "retry_attempts": 1, "request_timeout": 1, "restart_min_delay": 3}}])
@pytest_twisted.ensureDeferred
async def test_mediamtx_killed_breaker_opens_and_everything_comes_back(live, service_settings):
    client = await live.authed_client("operator")
    events = []
    live.tree.bus.subscribe(lambda e: events.append(e) if e.topic == "system.health" else None)
    process = live.tree.getServiceNamed("mediamtx-process")
    os.kill(process.pid, signal.SIGKILL)

    async def breaker_open():
        return live.controller.breaker.state.value == "open"

    await _until(breaker_open, timeout=10)
    failed = await client.call("get_stream_status", {"device": "camera1000"})
    assert failed["error"]["code"] == -32050
    assert failed["error"]["data"]["dependency"] == "mediamtx"
    assert (await client.call("ping"))["result"] == "pong"  # the API stays up
    health = await treq.get(live.http + "/health/mediamtx")
    assert health.code == 503

    await live.wait_mediamtx_up(timeout=20)
    assert "camera1000" in await _path_configs(live)
    assert await _video_packets(f"rtsp://127.0.0.1:{live.config.mediamtx.rtsp_port}/camera1000") > 0
    assert [e.data["status"] for e in events][:1] == ["down"]
    assert events[-1].data["status"] == "up"
    assert (await treq.get(live.http + "/health/mediamtx")).code == 200
    await client.close()


@pytest_twisted.ensureDeferred
async def test_drift_is_repaired_and_foreign_paths_left_alone(live):
    add = await treq.post(_api(live, "/v3/config/paths/add/foreign1"), json={"source": "publisher"},
                          auth=live.api_auth)
    assert add.code == 200
    delete = await treq.delete(_api(live, "/v3/config/paths/delete/camera1000"), auth=live.api_auth)
    assert delete.code == 200

    async def restored():
        configs = await _path_configs(live)
        return "camera1000" in configs and configs

    configs = await _until(restored, timeout=10)
    assert "foreign1" in configs

    tamper = await treq.patch(_api(live, "/v3/config/paths/patch/camera1000"), json={"runOnDemand": ""},
                              auth=live.api_auth)
    assert tamper.code == 200

    async def repaired():
        configs = await _path_configs(live)
        return configs["camera1000"]["runOnDemand"] != "" and configs

    configs = await _until(repaired, timeout=10)
    assert "foreign1" in configs


# the "network camera" is an RTSP source on loopback: it must be allowed
# explicitly (a host without a port still never opens camservice's own ports)
@pytest.mark.parametrize("service_settings", [{"external_streams": {"allowed_targets": ["127.0.0.1"]}}])
@pytest_twisted.ensureDeferred
async def test_network_camera_added_removed_and_kept_across_restart(live, tmp_path, service_settings):
    source = RtspSource(reactor, tmp_path)
    try:
        await source.start()
        remote = source.url
        client = await live.authed_client("operator")

        added = (await client.call("add_external_stream", {"stream_url": remote, "stream_name": "gate"}))["result"]
        assert added["status"] == "ADDED" and added["stream_type"] == "rtsp"
        device = added["device"]
        assert device == "camera2000"
        listed = (await client.call("get_external_streams"))["result"]["external_streams"]
        assert listed[0]["url"] == remote and listed[0]["status"] == "CONNECTED"
        assert listed[0]["capabilities"]["codec"] == "h264"
        camera = (await client.call("get_camera_status", {"device": device}))["result"]
        assert camera["resolution"] == "320x240"
        assert await _video_packets(camera["streams"]["rtsp"]) > 0
        duplicate = await client.call("add_external_stream", {"stream_url": remote, "stream_name": "gate2"})
        assert duplicate["error"]["code"] == -32020

        # survives a restart of camservice
        await client.close()
        port = live.port
        await live.tree.stopService()
        # on the port it served before, as a restart does: a new port 0 could
        # be handed the number of a MediaMTX port free while MediaMTX restarts
        config = load_config(live.config.source)
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, port=port))
        again = start_live(config, reactor)
        try:
            await again.wait_mediamtx_up()
            client = await again.authed_client("operator")
            cameras = (await client.call("get_camera_list"))["result"]["cameras"]
            assert device in [c["device"] for c in cameras]
            removed = (await client.call("remove_external_stream", {"stream_url": remote}))["result"]
            assert removed["status"] == "REMOVED"
            cameras = (await client.call("get_camera_list"))["result"]["cameras"]
            assert device not in [c["device"] for c in cameras]

            async def path_gone():
                return device not in await _path_configs(again)

            await _until(path_gone, timeout=10)
            missing = await client.call("remove_external_stream", {"stream_url": remote})
            assert missing["error"]["code"] == -32010
            await client.close()
        finally:
            await again.tree.stopService()
    finally:
        await source.stop()
