"""``twistd camservice`` as an administrator runs it: a real subprocess."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from helpers.processes import TWISTD, free_port, media_port_env, run, service_env, start_twistd, wait_for_http
from helpers.wsclient import connect

ADMIN = [sys.executable, "-m", "camservice.admin"]


def _env(tmp_path, port):
    env = {
        "CAMSERVICE_DATA_DIR": str(tmp_path / "state"),
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",  # never the machine's own cameras
    }
    env.update(media_port_env())
    return env


@pytest_twisted.ensureDeferred
async def test_default_config_serves_and_stops_cleanly_on_sigterm(tmp_path, clean_env):
    port = free_port()
    env = _env(tmp_path, port)
    child = start_twistd(reactor, env=env)
    try:
        alive = await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", child)
        assert alive.code == 200
        assert (await alive.json())["status"] == "alive"

        # a token minted by camservice-admin from the same (default) config
        code, out, err = await run(reactor, ADMIN + ["token", "--role", "viewer"], env=env)
        assert code == 0, err
        token = out.strip().splitlines()[-1]
        client = await connect(reactor, f"ws://127.0.0.1:{port}/ws", port)
        auth = await client.call("authenticate", {"auth_token": token})
        assert auth["result"]["role"] == "viewer"
        cameras = (await client.call("get_camera_list"))["result"]["cameras"]
        assert [c["device"] for c in cameras] == ["camera1000"]
        secret = Path(env["CAMSERVICE_DATA_DIR"]) / "jwt-secret"
        assert secret.stat().st_mode & 0o777 == 0o600

        exit_code = await child.stop()
        close_code, _ = await client.closed
    finally:
        await child.stop()
    assert close_code == 1001
    assert exit_code == 0, child.stdout + child.stderr
    assert "Traceback" not in child.stdout + child.stderr
    records = [json.loads(line) for line in child.stdout.splitlines() if line.strip()]
    assert any(r["message"].startswith("API listening on") for r in records)
    assert all({"time", "level", "system", "message"} <= r.keys() for r in records)
    assert any(r.get("audit") and r.get("outcome") == "success" for r in records)


@pytest_twisted.ensureDeferred
async def test_bad_config_file_exits_non_zero_with_one_line(tmp_path, clean_env):
    config = tmp_path / "bad.yaml"
    config.write_text("server:\n  port: 99999\n")
    child = start_twistd(reactor, config, env={"CAMSERVICE_DATA_DIR": str(tmp_path)})
    code = await child.ended
    assert code == 2
    lines = child.stderr.strip().splitlines()
    assert lines == [f"camservice: config error: {config}: server.port = 99999: must be at most 65535"]
    assert "Traceback" not in child.stdout


@pytest_twisted.ensureDeferred
async def test_bad_override_exits_non_zero_naming_the_variable(tmp_path, clean_env):
    child = start_twistd(reactor, env={"CAMSERVICE_DATA_DIR": str(tmp_path), "CAMSERVICE_LOGGING__LEVEL": "loud"})
    assert await child.ended == 2
    assert child.stderr.strip() == (
        "camservice: config error: CAMSERVICE_LOGGING__LEVEL: logging.level = 'loud': "
        "must be one of: debug, info, warn, error, critical"
    )


@pytest_twisted.ensureDeferred
async def test_port_in_use_exits_non_zero_with_the_reason(tmp_path, clean_env):
    port = free_port()
    blocker = reactor.listenTCP(port, __import__("twisted.internet.protocol", fromlist=["Factory"]).Factory(), interface="127.0.0.1")
    try:
        child = start_twistd(reactor, env=_env(tmp_path, port))
        code = await child.ended
    finally:
        await blocker.stopListening()
    assert code == 1
    records = [json.loads(line) for line in child.stdout.splitlines() if line.strip()]
    critical = [r for r in records if r["level"] == "critical"]
    assert len(critical) == 1
    assert critical[0]["message"].startswith(f"cannot start: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in child.stderr + child.stdout


@pytest.mark.parametrize("unit_env", [False, True], ids=["plain", "unit-environment"])
@pytest_twisted.ensureDeferred
async def test_help_documents_every_option(clean_env, unit_env):
    # the unit runs Python with -OO, which drops docstrings: the help is no docstring
    env = service_env() if unit_env else None
    code, out, err = await run(reactor, [sys.executable, "-c", TWISTD, "camservice", "--help"], env=env)
    assert code == 0, err
    assert "--config=" in out and "CAMSERVICE_<SECTION>__<KEY>" in out
    assert "--version" in out and "Print the camservice version and exit." in out


@pytest_twisted.ensureDeferred
async def test_a_start_failure_after_the_reactor_runs_exits_non_zero(tmp_path, clean_env):
    port = free_port()
    env = _env(tmp_path, port)
    state = Path(env["CAMSERVICE_DATA_DIR"])
    state.mkdir(parents=True)
    (state / "external-streams.json").write_text("{not json")
    child = start_twistd(reactor, env=env)
    code = await child.ended
    assert code == 1
    records = [json.loads(line) for line in child.stdout.splitlines() if line.strip()]
    failed = [r for r in records if r["level"] == "critical"]
    assert failed and "external-streams" in failed[0]["message"]
    assert "unreadable external streams file" in failed[0]["traceback"]


@pytest_twisted.ensureDeferred
async def test_tls_key_that_does_not_fit_exits_non_zero_with_one_line(tmp_path, clean_env):
    from helpers.certs import CertificateAuthority

    ca = CertificateAuthority()
    cert, _ = ca.server().write(tmp_path, "server")
    _, other_key = ca.server().write(tmp_path, "other")
    config = tmp_path / "tls.yaml"
    config.write_text(f"server:\n  port: 0\n  tls:\n    certificate: {cert}\n    private_key: {other_key}\n")
    child = start_twistd(reactor, config, env={"CAMSERVICE_DATA_DIR": str(tmp_path)})
    assert await child.ended == 2
    lines = child.stderr.strip().splitlines()
    assert len(lines) == 1, child.stderr
    assert lines[0].startswith(f"camservice: config error: server.tls.private_key = '{other_key}': does not fit the certificate")
    assert "Traceback" not in child.stdout + child.stderr


@pytest_twisted.ensureDeferred
async def test_sighup_reloads_the_file_and_refuses_a_bad_one(tmp_path, clean_env):
    from twisted.internet import task

    port = free_port()
    env = _env(tmp_path, port)
    config = tmp_path / "camservice.yaml"
    config.write_text("logging:\n  level: info\n")
    child = start_twistd(reactor, config_path=config, env=env)

    async def logged(message_start, count=1):
        for _ in range(100):
            records = [json.loads(line) for line in child.stdout.splitlines() if line.strip().startswith("{")]
            found = [r for r in records if r["message"].startswith(message_start)]
            if len(found) >= count:
                return found
            await task.deferLater(reactor, 0.1, lambda: None)
        raise AssertionError(f"never logged {message_start!r}: {child.stdout[-2000:]}")

    try:
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", child)
        config.write_text("logging:\n  level: debug\n")
        child.signal("HUP")
        (done,) = await logged("configuration reloaded")
        assert done["sections"] == ["logging"] and done["who"] == "SIGHUP"
        config.write_text("logging:\n  level: debug\nserver:\n  websocket_path: /other\n")
        child.signal("HUP")
        (refused,) = await logged("configuration reload refused")
        assert refused["level"] == "error" and refused["stage"] == "check"
        alive = await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", child)
        assert alive.code == 200
        exit_code = await child.stop()
    finally:
        await child.stop()
    assert exit_code == 0, child.stdout + child.stderr
    backups = list((Path(env["CAMSERVICE_DATA_DIR"]) / "config-backups").iterdir())
    assert [p.read_text() for p in backups] == ["logging:\n  level: debug\n"]
