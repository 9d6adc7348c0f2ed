"""``kill -9`` of a real ``twistd camservice``'s whole process group (as
systemd kills it) while a camera records: at the next start the session
is resumed, or finalized once past its planned stop, clients can tell
which, and the finished file plays."""
from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path

import pytest_twisted
import yaml
from twisted.internet import reactor, task

from helpers.processes import TWISTD, Child, free_port, media_ports, run, wait_for_http
from helpers.waiting import until
from helpers.wsclient import connect

ADMIN = [sys.executable, "-m", "camservice.admin"]


def _config(tmp_path: Path, port: int) -> Path:
    ports, auth_port = media_ports()
    document = {
        "data_dir": str(tmp_path / "state"),
        "server": {"port": port, "shutdown_timeout": 2},
        "discovery": {"mode": "disabled"},
        "mediamtx": dict(ports, restart_min_delay=0.5, health_check_interval=0.5, log_level="warn"),
        "streams": {"auth_port": auth_port},
        "cameras": {"declared": [
            {"id": "camera1000", "kind": "virtual", "name": "Pattern", "resolution": "320x240", "fps": 10}]},
    }
    path = tmp_path / "camservice.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _start(config: Path) -> Child:
    # a session of its own, so that the whole group can be killed at once
    argv = ["setsid", sys.executable, "-c", TWISTD, "-n", "--pidfile=", "camservice", "--config", str(config)]
    return Child(reactor, argv)


async def _operator(config: Path, port: int):
    code, out, err = await run(reactor, ADMIN + ["--config", str(config), "token", "--role", "admin"])
    assert code == 0, err
    client = await connect(reactor, f"ws://127.0.0.1:{port}/ws", port)
    assert "result" in await client.call("authenticate", {"auth_token": out.strip().splitlines()[-1]})
    return client


#: this file's conditions take up to 30 s unless a call says otherwise
_until = functools.partial(until, timeout=30.0)


async def _kill_group(child: Child) -> None:
    os.killpg(os.getpgid(child.pid), signal.SIGKILL)
    assert await child.ended == -signal.SIGKILL


async def _ffprobe_duration(path: Path) -> float:
    code, out, err = await run(reactor, ["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                         "-of", "json", str(path)])
    assert code == 0, err
    return float(json.loads(out)["format"]["duration"])


async def _plays(path: Path) -> None:
    code, _out, err = await run(reactor, ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(path),
                                          "-f", "null", "-"], timeout=60)
    assert code == 0 and not err.strip(), err


async def _record_then_kill(tmp_path, duration):
    port = free_port()
    config = _config(tmp_path, port)
    first = _start(config)
    try:
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", first)
        client = await _operator(config, port)
        started = await client.call("start_recording", {"device": "camera1000", "duration": duration})
        assert started["result"]["status"] == "RECORDING", started
        state = tmp_path / "state" / "recordings.json"
        assert [s["filename"] for s in json.loads(state.read_text())["sessions"]] == [started["result"]["filename"]]
        await task.deferLater(reactor, 4.0, lambda: None)
        await _kill_group(first)
        await client.closed
    finally:
        await first.stop()
    return config, port, started["result"]


@pytest_twisted.ensureDeferred
async def test_a_session_still_due_is_resumed_after_kill_9_and_its_file_plays(tmp_path, clean_env):
    config, port, started = await _record_then_kill(tmp_path, duration=3600)
    second = _start(config)
    try:
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", second)
        client = await _operator(config, port)

        async def resumed():
            metrics = (await client.call("get_metrics"))["result"]["recording_metrics"]
            return metrics if metrics["active_recordings"] == 1 else None

        metrics = await _until(resumed)
        assert metrics["recovered"] == [{**metrics["recovered"][0], "device": "camera1000",
                                         "filename": started["filename"], "action": "resumed"}]
        assert metrics["recordings"]["camera1000"]["resumed"] is True
        assert metrics["recordings"]["camera1000"]["start_time"] == started["start_time"]
        stream = (await client.call("get_stream_status", {"device": "camera1000"}))["result"]
        assert stream["recording"]["resumed"] is True and stream["recording"]["filename"] == started["filename"]

        parts = tmp_path / "state" / "recordings" / ".parts"

        async def recording_again():
            return len(list(parts.rglob("*.mp4"))) >= 2

        await _until(recording_again)
        await task.deferLater(reactor, 3.0, lambda: None)
        stopped = (await client.call("stop_recording", {"device": "camera1000"}))["result"]
        assert stopped["filename"] == started["filename"]
        path = tmp_path / "state" / "recordings" / stopped["filename"]
        # about 4 s before the kill and 3 s or more after it
        assert await _ffprobe_duration(path) >= 5.0
        await _plays(path)
        await client.close()
    finally:
        assert await second.stop() == 0, second.stdout + second.stderr


@pytest_twisted.ensureDeferred
async def test_a_session_past_its_stop_is_finalized_after_kill_9_and_clients_are_told(tmp_path, clean_env):
    config, port, started = await _record_then_kill(tmp_path, duration=5)
    await task.deferLater(reactor, 2.0, lambda: None)  # past the planned stop
    second = _start(config)
    try:
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", second)
        client = await _operator(config, port)
        path = tmp_path / "state" / "recordings" / started["filename"]

        async def finalized():
            metrics = (await client.call("get_metrics"))["result"]["recording_metrics"]
            return metrics if metrics["finalized"] == 1 and path.exists() else None

        metrics = await _until(finalized)
        assert metrics["active_recordings"] == 0
        assert [r["action"] for r in metrics["recovered"]] == ["finalized"]
        assert 3.0 <= await _ffprobe_duration(path) <= 5.5
        await _plays(path)
        assert json.loads((tmp_path / "state" / "recordings.json").read_text())["sessions"] == []
        assert not [n for n in os.listdir(path.parent) if n.startswith(".") and n != ".parts"]
        await client.close()
    finally:
        assert await second.stop() == 0, second.stdout + second.stderr
