"""Snapshots and still images against the real MediaMTX and FFmpeg, with
virtual cameras and a real WebSocket client: JPEGs of the configured size
(ffprobe says), names as API.md rules them, nothing overwritten, nothing
partial left behind, ``snapshot.taken`` delivered, and the still-image
endpoint's doors."""
from __future__ import annotations

import json
import os
import signal
import re

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor, task

from camservice.cameras.model import CameraStatus
from helpers.processes import free_port, run

CAMERAS = [
    {"id": "camera1000", "kind": "virtual", "name": "Pattern", "resolution": "320x240", "fps": 10},
    {"id": "camera1001", "kind": "virtual", "name": "Small", "resolution": "160x120", "fps": 10},
    # nothing listens there: its source never starts
    {"id": "camera1002", "kind": "network", "name": "Gone", "resolution": "320x240", "fps": 10,
     "url": f"rtsp://127.0.0.1:{free_port()}/nothing"},
]


@pytest.fixture
def service_settings():
    return {
        "cameras": {"declared": CAMERAS},
        "media": {"snapshot_timeout": 15},
        "external_streams": {"allowed_targets": ["127.0.0.1"]},
    }


async def _size(data: bytes, tmp_path) -> tuple[int, int, str]:
    path = tmp_path / "probe.jpg"
    path.write_bytes(data)
    code, out, err = await run(reactor, ["ffprobe", "-v", "error", "-show_entries", "stream=width,height,codec_name",
                                         "-of", "json", str(path)])
    assert code == 0, err
    stream = json.loads(out)["streams"][0]
    return stream["width"], stream["height"], stream["codec_name"]


def _visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest_twisted.ensureDeferred
async def test_snapshot_is_a_jpeg_of_the_configured_size_and_announced(live, tmp_path):
    folder = live.config.media.snapshots_dir
    watcher = await live.authed_client("viewer")
    subscribed = await watcher.call("subscribe_events", {"topics": ["snapshot.taken"]})
    assert subscribed["result"]["subscribed"] is True
    client = await live.authed_client("operator")
    try:
        for device, size in (("camera1000", (320, 240)), ("camera1001", (160, 120))):
            result = (await client.call("take_snapshot", {"device": device}))["result"]
            assert result["status"] == "SUCCESS" and result["device"] == device
            name = result["filename"]
            assert re.fullmatch(rf"{device}_\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d(_\d+)?\.jpg", name), name
            assert result["file_path"] == f"/files/snapshots/{name}"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result["timestamp"])
            data = (folder / name).read_bytes()
            assert result["file_size"] == len(data) > 0
            assert await _size(data, tmp_path) == (*size, "mjpeg")
            event = await watcher.notifications.get()
            assert event["method"] == "event"
            params = event["params"]
            assert params["topic"] == "snapshot.taken"
            assert (params["device"], params["filename"], params["file_size"]) == (device, name, len(data))
        # nothing but the two snapshots: no temporary file is left
        assert len(_visible(folder)) == 2
    finally:
        await client.close()
        await watcher.close()


@pytest_twisted.ensureDeferred
async def test_custom_names_are_checked_and_never_overwritten(live):
    folder = live.config.media.snapshots_dir
    client = await live.authed_client("operator")
    try:
        result = (await client.call("take_snapshot", {"device": "camera1000", "filename": "front door"}))["result"]
        assert result["filename"] == "front door.jpg"
        assert result["file_path"] == "/files/snapshots/front%20door.jpg"
        first = (folder / "front door.jpg").read_bytes()
        kept = (await client.call("take_snapshot", {"device": "camera1000", "filename": "gate.JPG"}))["result"]
        assert kept["filename"] == "gate.JPG"

        again = await client.call("take_snapshot", {"device": "camera1000", "filename": "front door"})
        assert again["error"]["code"] == -32020
        assert again["error"]["data"]["state"] == "file_exists"
        assert (folder / "front door.jpg").read_bytes() == first

        for bad in ("../escape", "a/b", ".hidden", "..", "nul\x00byte", "x" * 252, "é" * 126, ""):
            reply = await client.call("take_snapshot", {"device": "camera1000", "filename": bad})
            assert reply["error"]["code"] == -32602, (bad, reply)
            assert reply["error"]["data"]["param"] == "filename"
        assert _visible(folder) == ["front door.jpg", "gate.JPG"]
        assert not (folder.parent / "escape.jpg").exists()
    finally:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_unknown_disconnected_and_unreachable_cameras(live):
    folder = live.config.media.snapshots_dir
    client = await live.authed_client("operator")
    try:
        unknown = await client.call("take_snapshot", {"device": "camera4242"})
        assert unknown["error"]["code"] == -32010

        live.registry.update("camera1001", status=CameraStatus.DISCONNECTED)
        disconnected = await client.call("take_snapshot", {"device": "camera1001"})
        assert disconnected["error"]["code"] == -32020
        assert disconnected["error"]["data"]["state"] == "camera_disconnected"

        started = reactor.seconds()
        unreachable = await client.call("take_snapshot", {"device": "camera1002", "filename": "never"})
        assert unreachable["error"]["code"] == -32050, unreachable
        assert unreachable["error"]["data"]["dependency"] == "ffmpeg"
        assert "token" not in json.dumps(unreachable) or "***" in json.dumps(unreachable)
        assert reactor.seconds() - started < 15
        assert _visible(folder) == []  # no partial file, no temporary one

        viewer = await live.authed_client("viewer")
        refused = await viewer.call("take_snapshot", {"device": "camera1000"})
        assert refused["error"]["code"] == -32002
        await viewer.close()
    finally:
        await client.close()


async def _get(url: str, headers=None):
    response = await treq.get(url, headers=headers or {})
    return response, await response.content()


@pytest_twisted.ensureDeferred
async def test_still_image_with_header_auth_and_signed_token(live, tmp_path):
    still = f"{live.http}/cameras/camera1000/snapshot.jpg"
    folder = live.config.media.snapshots_dir

    response, body = await _get(still, {b"Authorization": [f"Bearer {live.token('viewer')}".encode()]})
    assert response.code == 200, body
    assert response.headers.getRawHeaders(b"content-type") == [b"image/jpeg"]
    assert response.headers.getRawHeaders(b"cache-control") == [b"no-store"]
    assert await _size(body, tmp_path) == (320, 240, "mjpeg")

    response, body = await _get(still, {b"X-API-Key": [live.token("viewer").encode()]})
    assert response.code == 200

    response, _ = await _get(still)
    assert response.code == 401
    assert response.headers.getRawHeaders(b"www-authenticate")
    response, _ = await _get(still, {b"Authorization": [b"Bearer not-a-valid-token-at-all-0123456789abcdef"]})
    assert response.code == 401
    response, _ = await _get(still, {b"Authorization": [f"Bearer {live.token('viewer', cameras=['camera1001'])}".encode()]})
    assert response.code == 403
    response, _ = await _get(f"{live.http}/cameras/camera4242/snapshot.jpg",
                             {b"Authorization": [f"Bearer {live.token('viewer')}".encode()]})
    assert response.code == 404

    viewer = await live.authed_client("viewer", cameras=["camera1000"])
    try:
        signed = (await viewer.call("get_snapshot_url", {"device": "camera1000"}))["result"]
        assert signed["device"] == "camera1000"
        assert signed["url"].startswith(f"{live.http}/cameras/camera1000/snapshot.jpg?token=st1-")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", signed["expires_at"])
        other = await viewer.call("get_snapshot_url", {"device": "camera1001"})
        assert other["error"]["code"] == -32002
        stream_url = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"]
    finally:
        await viewer.close()

    response, body = await _get(signed["url"])
    assert response.code == 200 and body.startswith(b"\xff\xd8")
    token = signed["url"].split("token=", 1)[1]
    # a token for camera1000 opens no other camera
    response, _ = await _get(f"{live.http}/cameras/camera1001/snapshot.jpg?token={token}")
    assert response.code == 403
    response, _ = await _get(f"{still}?token={token[:-1]}{'0' if token[-1] != '0' else '1'}")
    assert response.code == 403
    response, _ = await _get(f"{still}?token=st1-1-{'0' * 32}")
    assert response.code == 401  # expired
    # a stream token is no still-image token
    stream_token = stream_url.split("token=", 1)[1] if "token=" in stream_url else "s1-1-" + "0" * 32
    response, _ = await _get(f"{still}?token={stream_token}")
    assert response.code == 401
    # still images are never stored
    assert _visible(folder) == []


@pytest.mark.parametrize("service_settings", [{
    "cameras": {"declared": CAMERAS[:1]}, "streams": {"signed_urls": True},
}])
@pytest_twisted.ensureDeferred
async def test_a_still_image_token_opens_no_stream(live, service_settings):
    viewer = await live.authed_client("viewer")
    try:
        signed = (await viewer.call("get_snapshot_url", {"device": "camera1000"}))["result"]
        stream_url = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"]
    finally:
        await viewer.close()
    still_token = signed["url"].split("token=", 1)[1]
    stream_token = stream_url.split("token=", 1)[1]
    rtsp = f"rtsp://127.0.0.1:{live.config.mediamtx.rtsp_port}/camera1000"
    code, _out, _err = await run(reactor, ["ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                                           f"{rtsp}?token={still_token}"], timeout=30)
    assert code != 0
    code, _out, err = await run(reactor, ["ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                                          f"{rtsp}?token={stream_token}"], timeout=30)
    assert code == 0, err
    response, _ = await _get(f"{live.http}/cameras/camera1000/snapshot.jpg?token={stream_token}")
    assert response.code == 401
    response, body = await _get(signed["url"])
    assert response.code == 200 and body.startswith(b"\xff\xd8")


@pytest_twisted.ensureDeferred
async def test_still_image_of_a_disconnected_camera_is_503(live):
    live.registry.update("camera1001", status=CameraStatus.DISCONNECTED)
    response, body = await _get(f"{live.http}/cameras/camera1001/snapshot.jpg",
                                {b"Authorization": [f"Bearer {live.token('viewer')}".encode()]})
    assert response.code == 503, body


@pytest_twisted.ensureDeferred
async def test_a_held_stream_is_snapped_from_its_latest_keyframe(live, tmp_path):
    client = await live.authed_client("operator")
    frames = live.tree.getServiceNamed("live-frames")
    try:
        await client.call("start_streaming", {"device": "camera1000"})
        deadline = reactor.seconds() + 15
        while frames.latest("camera1000") is None:
            assert reactor.seconds() < deadline, "no live keyframe within 15 s of start_streaming"
            await task.deferLater(reactor, 0.1, lambda: None)
        kept = frames.latest("camera1000")
        result = (await client.call("take_snapshot", {"device": "camera1000"}))["result"]
        data = (live.config.media.snapshots_dir / result["filename"]).read_bytes()
        assert data == kept.jpeg or frames.latest("camera1000") is not kept
        assert await _size(data, tmp_path) == (320, 240, "mjpeg")
        # camservice's own readers are no viewers
        status = (await client.call("get_stream_status", {"device": "camera1000"}))["result"]
        assert status["mediamtx_path"]["readers"] == 0, status
        await client.call("stop_streaming", {"device": "camera1000"})
        deadline = reactor.seconds() + 5
        while frames.tapped():
            assert reactor.seconds() < deadline, "the keyframe reader outlived the hold"
            await task.deferLater(reactor, 0.1, lambda: None)
    finally:
        await client.close()


@pytest.mark.parametrize("service_settings", [{
    "cameras": {"declared": CAMERAS[:1]},
    "mediamtx": {"breaker_failure_threshold": 2, "breaker_reset_timeout": 1, "retry_attempts": 1,
                 "request_timeout": 1, "restart_min_delay": 30}}])
@pytest_twisted.ensureDeferred
async def test_mediamtx_down_a_virtual_camera_has_no_picture(live, service_settings):
    client = await live.authed_client("operator")
    try:
        os.kill(live.tree.getServiceNamed("mediamtx-process").pid, signal.SIGKILL)
        deadline = reactor.seconds() + 15
        while live.controller.health.value != "down":
            assert reactor.seconds() < deadline, "MediaMTX not reported down"
            await task.deferLater(reactor, 0.1, lambda: None)
        failed = await client.call("take_snapshot", {"device": "camera1000", "filename": "down"})
        assert failed["error"]["code"] == -32050
        assert failed["error"]["data"]["dependency"] == "mediamtx"
        response, _ = await _get(f"{live.http}/cameras/camera1000/snapshot.jpg",
                                 {b"Authorization": [f"Bearer {live.token('viewer')}".encode()]})
        assert response.code == 503
        assert _visible(live.config.media.snapshots_dir) == []
    finally:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_a_snapshot_is_listed_downloadable_and_deletable_at_once(live):
    client = await live.authed_client("admin")
    try:
        taken = (await client.call("take_snapshot", {"device": "camera1000", "filename": "porch"}))["result"]
        assert taken["filename"] == "porch.jpg"
        # indexed when written: no rescan needed
        listed = (await client.call("list_snapshots"))["result"]
        assert [f["filename"] for f in listed["files"]] == ["porch.jpg"]
        assert listed["files"][0]["file_size"] == taken["file_size"]
        info = (await client.call("get_snapshot_info", {"filename": "porch.jpg"}))["result"]
        assert info["download_url"] == taken["file_path"]
        response = await treq.get(live.http + taken["file_path"],
                                  headers={"Authorization": f"Bearer {live.token('viewer')}"})
        body = await response.content()
        assert response.code == 200 and body == (live.config.media.snapshots_dir / "porch.jpg").read_bytes()
        assert response.headers.getRawHeaders("content-type") == ["image/jpeg"]
        deleted = (await client.call("delete_snapshot", {"filename": "porch.jpg"}))["result"]
        assert deleted["deleted"] is True
        assert (await client.call("list_snapshots"))["result"]["files"] == []
        assert not (live.config.media.snapshots_dir / "porch.jpg").exists()
    finally:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_no_snapshot_on_a_full_disk(live):
    import dataclasses

    storage = live.tree.getServiceNamed("storage")
    # any disk in use is "full" at these thresholds
    storage.config = dataclasses.replace(storage.config, warn_percent=0.0005, block_percent=0.001)
    client = await live.authed_client("operator")
    try:
        reply = await client.call("take_snapshot", {"device": "camera1000"})
        assert reply["error"]["code"] == -32020, reply
        assert reply["error"]["data"]["state"] == "storage_critical"
        assert _visible(live.config.media.snapshots_dir) == []
    finally:
        await client.close()
