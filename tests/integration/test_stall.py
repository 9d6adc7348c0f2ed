"""A publisher that stops sending without exiting (SIGSTOP: MediaMTX keeps
the path ready with flat byte counters) is caught and replaced within
DESIGN.md's 10 s, with a system.health event naming the camera; the
stream plays again (real MediaMTX, real FFmpeg)."""
from __future__ import annotations

import os
import signal

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from camservice.media.publishers import publisher_pids
from camservice.mediamtx.sources import publish_url
from test_mediamtx import _until, _video_packets


@pytest.fixture
def service_settings():
    return {"mediamtx": {"on_demand_close_after": 2}}


async def _stream_health(client, timeout):
    """The next system.health event about a stream."""
    deadline = reactor.seconds() + timeout
    while True:
        remaining = deadline - reactor.seconds()
        assert remaining > 0, "no stream health event in time"
        d = client.notifications.get()
        timer = reactor.callLater(remaining, d.cancel)
        message = await d
        if timer.active():
            timer.cancel()
        params = message.get("params", {})
        if message.get("method") == "event" and params.get("topic") == "system.health" \
                and params.get("component") == "stream":
            return params


@pytest_twisted.ensureDeferred
async def test_a_stopped_publisher_is_replaced_and_the_stream_plays_again(live):
    client = await live.authed_client("operator")
    assert (await client.call("subscribe_events", {"topics": ["system.health"]}))["result"]["subscribed"]
    started = await client.call("start_streaming", {"device": "camera1000"})
    assert "result" in started, started
    url = publish_url(live.config.mediamtx, "camera1000")
    (pid,) = publisher_pids(url)
    os.kill(pid, signal.SIGSTOP)
    stopped_at = reactor.seconds()
    try:
        stalled = await _stream_health(client, 15)
        assert stalled["device"] == "camera1000" and stalled["status"] == "stalled", stalled
        restarted = await _stream_health(client, 10)
        assert restarted["status"] == "restarted", restarted

        async def replaced():
            pids = publisher_pids(url)
            return pids and pid not in pids
        await _until(replaced, timeout=10)

        async def ready_again():
            reply = await client.call("get_stream_url", {"device": "camera1000"})
            return reply["result"]["available"]
        await _until(ready_again, timeout=10)
        recovered_in = reactor.seconds() - stopped_at
        assert recovered_in < 10, f"the stream came back after {recovered_in:.1f} s"
        camera = (await client.call("get_camera_list"))["result"]["cameras"][0]
        assert await _video_packets(camera["streams"]["rtsp"]) > 0
        assert not os.path.exists(f"/proc/{pid}"), "the hung publisher was left behind"
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    await task.deferLater(reactor, 0, lambda: None)


@pytest_twisted.ensureDeferred
async def test_a_recording_across_a_stall_goes_on_in_the_same_session(live):
    from test_recordings import decodes_end_to_end, probe, recordings_dir, sleep, visible_files

    client = await live.authed_client("operator")
    started = await client.call("start_recording", {"device": "camera1000"})
    assert "result" in started, started
    filename = started["result"]["filename"]
    await sleep(2)
    url = publish_url(live.config.mediamtx, "camera1000")
    (pid,) = publisher_pids(url)
    os.kill(pid, signal.SIGSTOP)
    try:
        async def replaced():
            pids = publisher_pids(url)
            return pids and pid not in pids
        await _until(replaced, timeout=15)
        await sleep(3)  # recording again from the new source
        status = (await client.call("get_stream_status", {"device": "camera1000"}))["result"]
        assert status["recording"]["filename"] == filename, status["recording"]
        stopped = await client.call("stop_recording", {"device": "camera1000"})
        assert stopped["result"]["filename"] == filename, stopped
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert visible_files(live) == [filename]
    path = recordings_dir(live) / filename
    # before the stall and after it; the stall itself left no frames
    assert (await probe(path))["duration"] >= 3.5
    assert await decodes_end_to_end(path) > 0
