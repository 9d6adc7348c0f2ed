"""``mediamtx.mode: external``: MediaMTX runs on its own, from the example
config shipped in conf/, and camservice drives it through its API. The
example is locked like the managed config: no API without camservice's
credentials, no command run by an anonymous or cross-origin request."""
from __future__ import annotations

from pathlib import Path

import pytest_twisted
import treq
import yaml
from twisted.internet import reactor

from camservice.config import load_config
from camservice.mediamtx.binary import find_mediamtx
from camservice.mediamtx.client import MediaMTXClient
from helpers.live import start_live
from helpers.processes import Child, media_ports, run
from helpers.rtsp_source import RtspSource

ROOT = Path(__file__).resolve().parents[2]


@pytest_twisted.ensureDeferred
async def test_external_mediamtx_from_the_example_config(tmp_path, write_config, log_events):
    controller_events = log_events("camservice.mediamtx.controller")
    ports, auth_port = media_ports()
    example = yaml.safe_load((ROOT / "conf" / "mediamtx-external.yml").read_text())
    assert example["authMethod"] == "http" and example["authHTTPExclude"] == []
    assert example["apiAllowOrigins"] == []
    example["authHTTPAddress"] = f"http://127.0.0.1:{auth_port}/mediamtx/auth"
    example["apiAddress"] = f"127.0.0.1:{ports['api_port']}"
    example["rtspAddress"] = f"127.0.0.1:{ports['rtsp_port']}"
    example["hlsAddress"] = f"127.0.0.1:{ports['hls_port']}"
    example["webrtcAddress"] = f"127.0.0.1:{ports['webrtc_port']}"
    example["webrtcLocalUDPAddress"] = f"127.0.0.1:{ports['webrtc_udp_port']}"
    example["pathDefaults"]["recordPath"] = str(tmp_path / "rec" / "%path" / "%Y-%m-%d_%H-%M-%S-%f")
    mediamtx_yml = tmp_path / "mediamtx.yml"
    mediamtx_yml.write_text(yaml.safe_dump(example))
    password_file = tmp_path / "api-password"
    password_file.write_text("an-operator-chosen-password-0123\n")
    binary, _version = find_mediamtx(None)
    server = Child(reactor, [binary, str(mediamtx_yml)])
    config = load_config(write_config({
        "server": {"port": 0, "shutdown_timeout": 5, "auto_ping_interval": 0},
        "mediamtx": dict(ports, mode="external", health_check_interval=0.5, api_user="operator-cam",
                         api_password_file=str(password_file)),
        "streams": {"auth_port": auth_port},
        "discovery": {"mode": "disabled"},
        "cameras": {"declared": [{"id": "camera1000", "kind": "virtual", "resolution": "320x240", "fps": 10}]},
    }))
    live = start_live(config, reactor)
    try:
        assert "mediamtx-process" not in [s.name for s in live.tree]
        await live.wait_mediamtx_up()
        assert live.api_auth == ("operator-cam", "an-operator-chosen-password-0123")
        anonymous = MediaMTXClient(reactor, live.config.mediamtx.api_url, 2)
        assert await anonymous.answers_anonymously() is False
        await anonymous.close()
        assert not [e for e in controller_events if e.get("outcome") == "unlocked"]

        # anonymous and cross-origin writes are refused; nothing runs
        touched = tmp_path / "touched"
        body = ('{"runOnInit": "touch %s"}' % touched).encode()
        for headers in ({b"Content-Type": [b"application/json"]},
                        {b"Content-Type": [b"text/plain"], b"Origin": [b"http://evil.example"]}):
            response = await treq.post(live.api("/v3/config/paths/add/x"), data=body, headers=headers)
            assert response.code == 401
            assert response.headers.getRawHeaders(b"Access-Control-Allow-Origin") is None
        assert (await treq.get(live.api("/v3/info"), auth=("operator-cam", "wrong"))).code == 401

        # external mode signs stream URLs (MediaMTX binds as its own config says)
        client = await live.authed_client("viewer")
        camera = (await client.call("get_camera_list"))["result"]["cameras"][0]
        await client.close()
        assert "?token=s1-" in camera["streams"]["rtsp"]
        code, out, err = await run(reactor, [
            "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name",
            "-of", "csv=p=0", camera["streams"]["rtsp"]], timeout=30)
        assert code == 0, err
        assert out.strip() == "h264"
        code, out, err = await run(reactor, [
            "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name",
            "-of", "csv=p=0", f"rtsp://127.0.0.1:{ports['rtsp_port']}/camera1000"], timeout=30)
        assert code != 0 and "401" in err
        assert not (tmp_path / "x").exists() and not touched.exists()
    finally:
        await live.tree.stopService()
        # camservice never stops an external MediaMTX; the test does
        still_running = not server.ended.called
        await server.stop()
    assert still_running


@pytest_twisted.ensureDeferred
async def test_an_unlocked_mediamtx_is_recognised(tmp_path):
    # MediaMTX's own defaults: the Control API is open to anyone on loopback
    source = RtspSource(reactor, tmp_path)
    client = MediaMTXClient(reactor, source.api, 2)
    try:
        await source.start()
        assert await client.answers_anonymously() is True
    finally:
        await client.close()
        await source.stop()
