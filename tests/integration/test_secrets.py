"""A full ``twistd camservice`` run with a network camera whose URL holds a
password: the password appears in no log line and no health body (only
in an admin's explicit view), and nothing logs a traceback."""
from __future__ import annotations

import base64
import json
import re
import sys

import pytest_twisted
import treq
from twisted.internet import protocol, reactor, task

from helpers.processes import free_port, mediamtx_ports, run, start_twistd, wait_for_http
from helpers.wsclient import connect

ADMIN = [sys.executable, "-m", "camservice.admin"]
PASSWORD = "KnownPw-7f3a9c"
HEALTH = ("alive", "ready", "mediamtx", "cameras")


class _LockedCamera(protocol.Protocol):
    """An RTSP "camera" that wants credentials and refuses every request
    (so clients send their Authorization header, and fail)."""

    def dataReceived(self, data):
        cseq = re.search(rb"(?i)cseq: *([0-9]+)", data)
        self.transport.write(
            b"RTSP/1.0 401 Unauthorized\r\nCSeq: " + (cseq.group(1) if cseq else b"1")
            + b'\r\nWWW-Authenticate: Basic realm="camera"\r\n\r\n'
        )


@pytest_twisted.ensureDeferred
async def test_a_url_password_never_reaches_the_log_or_health(tmp_path, clean_env):
    camera_port = free_port()
    camera = reactor.listenTCP(camera_port, protocol.Factory.forProtocol(_LockedCamera), interface="127.0.0.1")
    url = f"rtsp://viewer:{PASSWORD}@127.0.0.1:{camera_port}/cam"
    redacted = f"rtsp://***@127.0.0.1:{camera_port}/cam"
    port = free_port()
    env = {
        "CAMSERVICE_DATA_DIR": str(tmp_path / "state"),
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",
        "CAMSERVICE_LOGGING__LEVEL": "debug",
        "CAMSERVICE_MEDIAMTX__LOG_LEVEL": "debug",
        "CAMSERVICE_MEDIAMTX__SOURCE_START_TIMEOUT": "2",
        "CAMSERVICE_EXTERNAL_STREAMS__ALLOWED_TARGETS": json.dumps([f"127.0.0.1:{camera_port}"]),
        "CAMSERVICE_EXTERNAL_STREAMS__CANDIDATES": json.dumps([url]),
        "CAMSERVICE_EXTERNAL_STREAMS__PROBE_TIMEOUT": "2",
    }
    for key, value in mediamtx_ports().items():
        env[f"CAMSERVICE_MEDIAMTX__{key.upper()}"] = str(value)
    child = start_twistd(reactor, env=env)
    bodies = []
    try:
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", child)
        code, out, err = await run(reactor, ADMIN + ["token", "--role", "admin"], env=env)
        assert code == 0, err
        admin = await connect(reactor, f"ws://127.0.0.1:{port}/ws", port)
        assert "result" in await admin.call("authenticate", {"auth_token": out.strip().splitlines()[-1]})
        code, out, err = await run(reactor, ADMIN + ["token", "--role", "viewer"], env=env)
        viewer = await connect(reactor, f"ws://127.0.0.1:{port}/ws", port)
        assert "result" in await viewer.call("authenticate", {"auth_token": out.strip().splitlines()[-1]})

        added = await admin.call("add_external_stream", {"stream_url": url, "stream_name": "door"})
        assert added["result"]["stream_url"] == redacted
        device = added["result"]["device"]
        listed = (await viewer.call("get_external_streams"))["result"]["external_streams"]
        assert [(s["url"], s["status"]) for s in listed] == [(redacted, "ERROR")]
        assert PASSWORD not in json.dumps(listed)
        shown = (await admin.call("get_external_streams", {"show_credentials": True}))["result"]
        assert shown["external_streams"][0]["url"] == url  # the one exception
        found = (await admin.call("discover_external_streams", {"include_offline": True}))["result"]
        assert [s["url"] for s in found["discovered_streams"]] == [redacted]
        started = await admin.call("start_streaming", {"device": device})  # refused: the probe failed
        assert PASSWORD not in json.dumps(started)
        # a reader makes MediaMTX pull the source (and fail, and log it)
        stream_url = (await admin.call("get_stream_url", {"device": device}))["result"]["stream_url"]
        await run(reactor, ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-rw_timeout", "3000000", stream_url],
                  timeout=10)
        status = await viewer.call("get_camera_status", {"device": device})
        assert PASSWORD not in json.dumps(status)
        for name in HEALTH:
            response = await treq.get(f"http://127.0.0.1:{port}/health/{name}", timeout=5)
            bodies.append((name, (await response.content()).decode()))
        await task.deferLater(reactor, 1.0, lambda: None)  # let MediaMTX retry the source and log it
        removed = await admin.call("remove_external_stream", {"stream_url": redacted})
        assert removed["result"]["device"] == device
        await admin.close()
        await viewer.close()
        exit_code = await child.stop()
    finally:
        await child.stop()
        await camera.stopListening()
    assert exit_code == 0, child.stderr
    output = child.stdout + child.stderr
    basic = base64.b64encode(f"viewer:{PASSWORD}".encode()).decode()  # MediaMTX logs its requests at debug
    records = [json.loads(line) for line in child.stdout.splitlines() if line.strip()]
    assert any(r.get("line") for r in records), "MediaMTX's lines are in the log"
    assert any(r.get("audit") and r.get("what") == "add_external_stream" for r in records)
    assert any(redacted in line for line in child.stdout.splitlines())
    for name, body in bodies:
        assert PASSWORD not in body and basic not in body, (name, body)
        assert "Traceback" not in body, (name, body)
    leaks = [line for line in output.splitlines() if PASSWORD in line or basic in line]
    assert leaks == []
    assert "Traceback" not in output
