"""Stream access through camservice, against the real MediaMTX, FFmpeg
and ffprobe: the Control API is camservice's alone, reads need a signed
URL (or a JWT/API key) for that very camera, only camservice's own sources
publish, and a path MediaMTX refuses costs only that camera."""
from __future__ import annotations

import json
import re
from urllib.parse import urljoin

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor, task

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.roles import Role
from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.streamauth.secrets import StreamSecrets, load_stream_key
from helpers.processes import Child, run

CAMERAS = [
    {"id": "camera1000", "kind": "virtual", "name": "Pattern", "resolution": "320x240", "fps": 10},
    {"id": "camera1001", "kind": "virtual", "name": "Pattern 2", "resolution": "320x240", "fps": 10},
]


@pytest.fixture
def service_settings():
    # short-lived URLs (6 to 7 s), so that expiry can be waited for
    return {"streams": {"signed_urls": True, "token_ttl": 6}, "cameras": {"declared": CAMERAS}}


async def _probe(url: str) -> tuple[int, str]:
    """ffprobe ``url`` as a viewer would: (exit code, stderr of a failed
    probe). A probe that read the H264 stream is ``(0, "")``: the decoder
    warnings of a viewer that joins between keyframes are not failures."""
    code, out, err = await run(reactor, [
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name",
        "-of", "csv=p=0", url], timeout=30)
    if code == 0:
        assert out.strip() == "h264", out
        return 0, ""
    return code, err


async def _urls(live, role="viewer", **kw) -> dict:
    client = await live.authed_client(role, **kw)
    try:
        cameras = (await client.call("get_camera_list"))["result"]["cameras"]
    finally:
        await client.close()
    return {c["device"]: c["streams"] for c in cameras}


def _token(url: str) -> str:
    return re.search(r"token=([^&]+)", url).group(1)


def _expiry(url: str) -> int:
    return int(_token(url).split("-")[1])


async def _sleep_until(when: float) -> None:
    await task.deferLater(reactor, max(0.0, when - reactor.seconds()), lambda: None)


def _plain(url: str) -> str:
    return url.split("?", 1)[0]


@pytest_twisted.ensureDeferred
async def test_the_control_api_refuses_anonymous_and_cross_origin_writes(live, tmp_path):
    touched = tmp_path / "touched"
    body = json.dumps({"runOnInit": f"touch {touched}"}).encode()
    anonymous = await treq.post(live.api("/v3/config/paths/add/x"), data=body,
                                headers={b"Content-Type": [b"application/json"]})
    # what a web page can send cross-origin without a pre-flight
    cross_origin = await treq.post(live.api("/v3/config/paths/add/y"), data=body, headers={
        b"Content-Type": [b"text/plain"], b"Origin": [b"http://evil.example"]})
    wrong = await treq.post(live.api("/v3/config/paths/add/z"), data=body, auth=("camservice", "guess"),
                            headers={b"Content-Type": [b"application/json"]})
    for response in (anonymous, cross_origin, wrong):
        assert response.code == 401
        assert response.headers.getRawHeaders(b"Access-Control-Allow-Origin") is None
    await task.deferLater(reactor, 1.0, lambda: None)  # a command would have run by now
    assert not touched.exists()
    configs = await treq.get(live.api("/v3/config/paths/list"), auth=live.api_auth)
    names = {item["name"] for item in (await configs.json())["items"]}
    assert names == {"camera1000", "camera1001"}
    # camservice's credentials: generated, private
    assert live.config.mediamtx.api_password_file.stat().st_mode & 0o777 == 0o600
    assert (live.config.data_dir / "stream-key").stat().st_mode & 0o777 == 0o600


@pytest_twisted.ensureDeferred
async def test_a_signed_rtsp_url_plays_only_its_camera_and_only_until_it_expires(live, log_events):
    audit = log_events("camservice.audit")
    urls = await _urls(live)
    own = urls["camera1000"]["rtsp"]
    assert "?token=s1-" in own
    # a viewer that starts before the expiry keeps playing after it
    viewer = Child(reactor, ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", own, "-f", "null", "-"])
    try:
        await _check_one_camera_until_expiry(live, audit, urls, own, viewer)
    finally:
        await viewer.stop()


async def _check_one_camera_until_expiry(live, audit, urls, own, viewer):
    assert await _probe(own) == (0, "")

    code, err = await _probe(_plain(own))
    assert code != 0 and "401" in err
    other = _plain(own) + "?token=" + _token(urls["camera1001"]["rtsp"])
    code, err = await _probe(other)
    assert code != 0 and "401" in err
    forged = own.replace(f"-{_expiry(own)}-", f"-{_expiry(own) + 3600}-")
    code, err = await _probe(forged)
    assert code != 0 and "401" in err

    denied = [e for e in audit if e.get("outcome") == "denied" and e.get("action") == "read"]
    assert {e["reason"] for e in denied} == {"no credential", "stream token is not valid for this camera"}
    assert all(e["audit"] is True and e["path"] == "camera1000" and e["ip"] == "127.0.0.1" for e in denied)
    assert not any(_token(own) in json.dumps(e, default=str) for e in audit)

    await _sleep_until(_expiry(own) + 0.3)
    code, err = await _probe(own)
    assert code != 0 and "401" in err
    assert [e["reason"] for e in audit if e.get("outcome") == "denied"][-1] == "stream token expired"
    assert not viewer.ended.called, viewer.stderr
    fresh = (await _urls(live))["camera1000"]["rtsp"]
    assert fresh != own and await _probe(fresh) == (0, "")


@pytest.mark.parametrize("service_settings", [{"streams": {"signed_urls": True}, "cameras": {"declared": CAMERAS}}])
@pytest_twisted.ensureDeferred
async def test_every_url_camservice_hands_out_plays(live, service_settings):
    client = await live.authed_client("operator")
    try:
        status = (await client.call("get_camera_status", {"device": "camera1001"}))["result"]
        url = (await client.call("get_stream_url", {"device": "camera1001"}))["result"]["stream_url"]
        started = (await client.call("start_streaming", {"device": "camera1000"}))["result"]
        assert started["status"] == "STARTED"
        live.registry.update("camera1001", name="Renamed")
        notification = await client.notifications.get()
        assert notification["method"] == "camera_status_update"
        assert notification["params"]["device"] == "camera1001"
        for given in (status["streams"]["rtsp"], url, started["stream_url"], notification["params"]["streams"]["rtsp"]):
            assert "?token=s1-" in given
            assert await _probe(given) == (0, ""), given
        # the keep-alive reader is camservice's own, not a viewer
        stream = (await client.call("get_stream_status", {"device": "camera1000"}))["result"]
        assert stream["status"] == "ACTIVE" and stream["mediamtx_path"]["readers"] == 0
    finally:
        await client.close()


@pytest_twisted.ensureDeferred
async def test_a_jwt_or_api_key_of_a_caller_allowed_the_camera_opens_it(live):
    base = f"rtsp://127.0.0.1:{live.config.mediamtx.rtsp_port}"
    allowed = live.token("viewer", cameras=["camera1000"])
    assert await _probe(f"{base}/camera1000?jwt={allowed}") == (0, "")
    code, err = await _probe(f"{base}/camera1001?jwt={allowed}")  # not on its allow list
    assert code != 0 and "401" in err
    expired = live.token("viewer", ttl=-60)
    code, err = await _probe(f"{base}/camera1000?jwt={expired}")
    assert code != 0 and "401" in err
    key, _entry = ApiKeyStore(live.config.auth.api_keys_file, reactor).add(Role.viewer, "wall", None, ["camera1001"])
    assert await _probe(f"{base}/camera1001?token={key}") == (0, "")
    code, err = await _probe(f"{base}/camera1000?token={key}")
    assert code != 0 and "401" in err


async def _hls(url: str):
    """GET ``url`` as hls.js would (treq follows MediaMTX's redirect)."""
    response = await treq.get(url)
    return response.code, await response.content()


@pytest_twisted.ensureDeferred
async def test_a_signed_hls_url_serves_playlist_and_segments_to_a_real_http_client(live):
    urls = await _urls(live)
    own = urls["camera1000"]["hls"]
    code, body = await _hls(own)
    assert code == 200 and body.startswith(b"#EXTM3U"), body[:200]
    variant = [line for line in body.decode().splitlines() if line and not line.startswith("#")][0]
    variant_url = urljoin(own, variant)
    code, media = await _hls(variant_url)
    assert code == 200 and media.startswith(b"#EXTM3U")
    segment = [line for line in media.decode().splitlines() if line and not line.startswith("#")][-1]
    code, data = await _hls(urljoin(own, segment))
    assert code == 200 and len(data) > 1000

    assert (await _hls(_plain(own)))[0] == 401
    other = _plain(own) + "?token=" + _token(urls["camera1001"]["hls"])
    assert (await _hls(other))[0] == 401

    await _sleep_until(_expiry(own) + 0.3)
    assert (await _hls(own))[0] == 401  # a new HLS session needs a valid token
    # the HLS session opened before the expiry goes on (MediaMTX checks a
    # token when a session starts, not on every playlist or segment)
    code, media = await _hls(variant_url)
    assert code == 200 and media.startswith(b"#EXTM3U")


async def _publish(url: str) -> tuple[int, str]:
    code, _out, err = await run(reactor, [
        "ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "rtsp", "-rtsp_transport", "tcp",
        url], timeout=30)
    return code, err


@pytest_twisted.ensureDeferred
async def test_an_unknown_local_process_cannot_publish(live, log_events):
    audit = log_events("camservice.audit")
    base = f"rtsp://127.0.0.1:{live.config.mediamtx.rtsp_port}"
    read_token = _token((await _urls(live))["camera1001"]["rtsp"])
    for url in (f"{base}/camera1001", f"{base}/camera1001?token=p1-0123456789abcdef0123456789abcdef",
                f"{base}/camera1001?token={read_token}", f"{base}/camera1001?jwt={live.token('admin')}"):
        code, err = await _publish(url)
        assert code != 0 and "401" in err, url
    publishes = [e for e in audit if e.get("outcome") == "denied" and e.get("action") == "publish"]
    # one full line per reason and client, the rest summarised with a count
    # (RTSP clients may retry, so at least one per attempt is counted)
    assert [e["reason"] for e in publishes] == ["only camservice's own source may publish to a camera path"]
    live.tree.audit.stop()  # writes the pending summaries now
    (summary,) = [e for e in audit if e.get("summary") and "media_publish" in e.get("whats", ())]
    assert summary["count"] >= 3 and summary["peer"] == "127.0.0.1"
    # a path camservice did not create does not exist (no wildcard paths)
    code, err = await _publish(f"{base}/elsewhere")
    assert code != 0 and "400" in err
    # the one credential that may publish there: camservice's own source's
    secrets = StreamSecrets(load_stream_key(live.config.data_dir))
    assert await _publish(f"{base}/camera1001?token={secrets.publish_secret('camera1001')}") == (0, "")
    # and not even that one takes over a path whose source is publishing
    client = await live.authed_client("operator")
    try:
        assert (await client.call("start_streaming", {"device": "camera1000"}))["result"]["status"] == "STARTED"
        code, err = await _publish(f"{base}/camera1000?token={secrets.publish_secret('camera1000')}")
        assert code != 0, err
        urls = await _urls(live)
        assert await _probe(urls["camera1000"]["rtsp"]) == (0, "")
    finally:
        await client.close()


@pytest.mark.parametrize("service_settings", [{
    "streams": {"signed_urls": True, "allowed_networks": ["10.0.0.0/8"]}, "cameras": {"declared": CAMERAS}}])
@pytest_twisted.ensureDeferred
async def test_a_viewer_outside_the_allowed_networks_is_refused_and_audited(live, log_events, service_settings):
    audit = log_events("camservice.audit")
    urls = await _urls(live)
    code, err = await _probe(urls["camera1000"]["rtsp"])
    assert code != 0 and "401" in err
    (event,) = [e for e in audit if e.get("outcome") == "denied"]
    assert event["reason"] == "address not in streams.allowed_networks"
    assert event["ip"] == "127.0.0.1" and event["action"] == "read" and event["protocol"] == "rtsp"
    # camservice's own readers are not viewers: start_streaming still works
    client = await live.authed_client("operator")
    started = await client.call("start_streaming", {"device": "camera1000"})
    assert started["result"]["status"] == "STARTED", started
    await client.close()


@pytest.mark.parametrize("service_settings", [{"cameras": {"declared": CAMERAS}}])
@pytest_twisted.ensureDeferred
async def test_a_path_mediamtx_refuses_puts_only_that_camera_in_error(live, service_settings):
    bad = Camera("camera2000", CameraKind.NETWORK, "Broken", CameraStatus.CONNECTED, "320x240", 10,
                 source="rtsp://127.0.0.1:1/bad%zz")
    live.registry.add(bad)
    # a camera added after the bad one, in the same reconciliation
    live.registry.add(Camera("camera2001", CameraKind.VIRTUAL, "Later", CameraStatus.CONNECTED, "320x240", 10))

    async def in_error():
        camera = live.registry.get("camera2000")
        return camera.status is CameraStatus.ERROR

    deadline = reactor.seconds() + 10
    while not await in_error():
        assert reactor.seconds() < deadline, "the refused camera did not go to ERROR"
        await task.deferLater(reactor, 0.1, lambda: None)
    assert "not a valid URL" in live.registry.get("camera2000").error

    client = await live.authed_client("admin")
    status = (await client.call("get_camera_status", {"device": "camera2000", "debug": True}))["result"]
    assert status["status"] == "ERROR" and "MediaMTX refused" in status["debug"]["error"]
    urls = {c["device"]: c["streams"] for c in (await client.call("get_camera_list"))["result"]["cameras"]}
    await client.close()
    for camera_id in ("camera1000", "camera2001"):
        assert await _probe(urls[camera_id]["rtsp"]) == (0, ""), camera_id

    # health stays truthful and steady across health checks and reconciliations
    for _ in range(3):
        mediamtx = await treq.get(live.http + "/health/mediamtx")
        assert mediamtx.code == 200 and (await mediamtx.json())["status"] == "up"
        cameras = await treq.get(live.http + "/health/cameras")
        assert cameras.code == 503 and (await cameras.json())["errors"] == ["camera2000"]
        ready = await treq.get(live.http + "/health/ready")
        assert ready.code == 200
        await task.deferLater(reactor, live.config.mediamtx.health_check_interval * 2, lambda: None)
    configs = await treq.get(live.api("/v3/config/paths/list"), auth=live.api_auth)
    names = {item["name"] for item in (await configs.json())["items"]}
    assert names == {"camera1000", "camera1001", "camera2001"}


WALL = "https://wall.example.org"


@pytest.mark.parametrize("service_settings", [{
    "streams": {"signed_urls": True, "allowed_origins": [WALL]}, "cameras": {"declared": CAMERAS}}])
@pytest_twisted.ensureDeferred
async def test_the_webrtc_url_lets_a_whep_offer_through_and_nothing_else(live, service_settings):
    urls = await _urls(live)
    own = urls["camera1000"]["webrtc"]
    assert own.endswith("/camera1000/whep?token=" + _token(own))

    async def offer(url, origin=WALL.encode()):
        # not a valid offer: MediaMTX checks the credential first, then the offer
        response = await treq.post(url, data=b"v=0\r\n", headers={
            b"Content-Type": [b"application/sdp"], b"Origin": [origin]})
        return response.code, await response.json(), response.headers

    code, body, headers = await offer(own)
    assert code == 400 and body["error"] != "authentication error", body  # past authentication
    assert headers.getRawHeaders(b"Access-Control-Allow-Origin") == [WALL.encode()]
    code, body, _headers = await offer(_plain(own))
    assert code == 401 and body["error"] == "authentication error"
    code, body, _headers = await offer(_plain(own) + "?token=" + _token(urls["camera1001"]["webrtc"]))
    assert code == 401
    # another web page gets no CORS grant
    _code, _body, headers = await offer(own, origin=b"http://evil.example")
    assert headers.getRawHeaders(b"Access-Control-Allow-Origin") is None
