"""``camservice-admin diagnose`` against a running ``twistd camservice``
(and one that is not running): the report, the archive, no secrets; and
the daemon's log file."""
from __future__ import annotations

import gzip
import json
import re
import sys
import tarfile
from pathlib import Path

import pytest_twisted
import yaml
from twisted.internet import reactor

from helpers.processes import free_port, mediamtx_ports, run, start_twistd, wait_for_http

ADMIN = [sys.executable, "-m", "camservice.admin"]
SECRET = "diagnose-test-secret-Zq8v3KpL0mN7wX2yR5tB"
CAMERA_PASSWORD = "cam-pass-Hq71xZ"


def _config(tmp_path, port, **extra) -> Path:
    document = {
        "data_dir": str(tmp_path / "state"),
        "server": {"port": port, "shutdown_timeout": 2},
        "auth": {"jwt_secret": SECRET},
        "logging": {"format": "json", "file": str(tmp_path / "log" / "camservice.log"), "max_size": 0},
        "discovery": {"mode": "disabled"},
        "mediamtx": dict(mediamtx_ports(), health_check_interval=0.5),
        "external_streams": {"candidates": [f"rtsp://admin:{CAMERA_PASSWORD}@192.0.2.55:554/stream"]},
        "cameras": {"declared": [{"id": "camera1000", "kind": "virtual", "resolution": "320x240", "fps": 10}]},
    }
    document.update(extra)
    path = tmp_path / "camservice.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _no_secrets(text: str) -> None:
    assert SECRET not in text
    assert CAMERA_PASSWORD not in text


async def _wait_ready(port: int, child, timeout: float = 30.0) -> None:
    from twisted.internet import task

    deadline = reactor.seconds() + timeout
    while True:
        response = await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/ready", child)
        await response.content()
        if response.code == 200:
            return
        if reactor.seconds() > deadline:
            raise AssertionError("the service did not get ready")
        await task.deferLater(reactor, 0.1, lambda: None)


@pytest_twisted.ensureDeferred
async def test_diagnose_reports_a_running_service_without_its_secrets(tmp_path, clean_env):
    port = free_port()
    config = _config(tmp_path, port)
    child = start_twistd(reactor, config)
    try:
        await _wait_ready(port, child)
        code, text, err = await run(reactor, ADMIN + ["--config", str(config), "diagnose"], timeout=60)
        assert code == 0, err
        archive = tmp_path / "diag.tar.gz"
        code, out, err = await run(reactor, ADMIN + ["--config", str(config), "diagnose", "-o", str(archive)], timeout=60)
        assert code == 0, err
        assert out == "" and str(archive) in err
    finally:
        assert await child.stop() == 0, child.stdout + child.stderr

    # the printed report
    _no_secrets(text)
    assert "running; API ws://127.0.0.1:" in text
    assert "status HEALTHY" in text and "breaker closed" in text
    assert re.search(r"^  camservice +0\.1\.0$", text, re.M)
    assert re.search(r"^  mediamtx +v1\.20\.\d+$", text, re.M)
    for section in ("versions", "config", "health", "status", "metrics", "cameras", "camera_status",
                    "streams", "recent_errors", "mediamtx_paths", "data_dir", "log_file"):
        assert f"== {section} ==" in text, section
    assert "rtsp://***@192.0.2.55:554/stream" in text

    # the archive: one file per section, owner-only
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive, "r:gz") as tar:
        members = {Path(m.name).name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    for blob in members.values():
        _no_secrets(blob)
    sections = {name[:-5]: json.loads(blob) for name, blob in members.items() if name.endswith(".json")}
    versions = sections["versions"]
    assert versions["camservice"] == "0.1.0" and versions["mediamtx"].startswith("v1.20")
    assert versions["ffmpeg"].startswith("ffmpeg version") and versions["twisted"] and versions["autobahn"]
    assert versions["treq"] and versions["python"] == sys.version.split()[0]
    assert sections["config"]["auth"]["jwt_secret"] == "***"
    assert sections["service"]["running"] is True
    assert sections["health"]["alive"]["code"] == 200
    assert sections["status"]["mediamtx"]["breaker"] == "closed"
    assert [c["device"] for c in sections["cameras"]["cameras"]] == ["camera1000"]
    assert "debug" in sections["camera_status"]["camera1000"]
    assert "camera1000" in {item["name"] for item in sections["mediamtx_paths"]["body"]["items"]}
    system = sections["metrics"]["system_metrics"]
    assert system["process_memory_bytes"] > 10_000_000 and system["process_open_files"] > 0
    assert "mediamtx" in [c["name"] for c in system["children"]]
    assert system["children_memory_bytes"] > 0 and system["data_dir_bytes"] > 0
    assert sections["recent_errors"]["kept"] == 100
    # names, sizes and modes of the data folder, never contents
    entries = {e["name"]: e for e in sections["data_dir"]["entries"]}
    assert set(entries["mediamtx/"]) == {"name", "bytes", "mode"}
    assert "camservice_process_resident_memory_bytes" in members["metrics.prom"]
    assert "camservice_children " in members["metrics.prom"]
    tail = [json.loads(line) for line in members["log-tail.jsonl"].splitlines()]
    assert any(r["message"].startswith("API listening on") for r in tail)
    assert "summary.txt" in members

    # the daemon's own log file: JSON lines down to its last words
    records = [json.loads(line) for line in (tmp_path / "log" / "camservice.log").read_text().splitlines()]
    assert all({"time", "level", "system", "message"} <= r.keys() for r in records)
    assert records[-1]["message"] == "Server Shut Down."
    assert any(r["message"] == "all services started" for r in records)


@pytest_twisted.ensureDeferred
async def test_diagnose_without_a_running_service_still_reports_the_static_parts(tmp_path, clean_env):
    config = _config(tmp_path, free_port())
    code, text, err = await run(reactor, ADMIN + ["--config", str(config), "diagnose"], timeout=60)
    assert code == 0, err
    _no_secrets(text)
    assert "NOT RUNNING" in text and "Connection" in text
    assert "== versions ==" in text and "== config ==" in text
    assert "== status ==" not in text
    # it does not leave a secret file behind for a service that never ran
    config2 = _config(tmp_path, free_port(), auth={})
    code, text, err = await run(reactor, ADMIN + ["--config", str(config2), "diagnose"], timeout=60)
    assert code == 0, err
    assert not (tmp_path / "state" / "jwt-secret").exists()


@pytest_twisted.ensureDeferred
async def test_the_daemon_log_file_rotates_and_compresses(tmp_path, clean_env):
    port = free_port()
    config = _config(
        tmp_path, port,
        logging={"format": "json", "level": "debug", "file": str(tmp_path / "log" / "camservice.log"),
                 "max_size": 4096, "total_size": 65536, "keep": 100},
    )
    child = start_twistd(reactor, config)
    try:
        await _wait_ready(port, child)
        for _ in range(10):
            response = await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", child)
            await response.content()
    finally:
        assert await child.stop() == 0, child.stdout + child.stderr
    folder = tmp_path / "log"
    rotated = sorted(p for p in folder.iterdir() if p.name != "camservice.log")
    assert rotated, "no rotation"
    assert all(p.name.endswith(".gz") for p in rotated)
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total <= 65536 + 4096
    lines = []
    for p in rotated:
        lines += gzip.decompress(p.read_bytes()).decode().splitlines()
    lines += (folder / "camservice.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    # the stdout lines and the file's are the same events
    stdout = [json.loads(line) for line in child.stdout.splitlines() if line.strip()]
    assert [r["message"] for r in records][-5:] == [r["message"] for r in stdout][-5:]


@pytest_twisted.ensureDeferred
async def test_a_log_file_that_cannot_be_written_stops_the_daemon_with_the_reason(tmp_path, clean_env):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config = _config(tmp_path, free_port(), logging={"format": "json", "file": str(blocker / "camservice.log")})
    child = start_twistd(reactor, config)
    code = await child.ended
    assert code == 1
    records = [json.loads(line) for line in child.stdout.splitlines() if line.strip()]
    (critical,) = [r for r in records if r["level"] == "critical"]
    assert "log-file" in critical["message"]
    assert "cannot write it" in critical["traceback"]
