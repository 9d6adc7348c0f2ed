"""Diagnostics without a service: redaction, the static report, the
archive, and a service that does not answer."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.error import ConnectionRefusedError

from camservice.config import load_config
from camservice.ops.diagnose import Report, collect_live, collect_static, redacted_config, render_text, scrub, write_archive

SECRET = "unit-diagnose-secret-0123456789abcdefgh"


def test_scrub_blanks_secret_names_url_credentials_and_known_secrets():
    data = {
        "jwt_secret": "s3cr3t-value",
        "password": "pw",
        "api_key": "k",
        "api_keys_file": "/var/lib/camservice/api-keys.json",
        "host_key_file": "/x/key",
        "token_ttl": 3600,
        "jwt_secret_empty": None,
        "url": "rtsp://admin:pw1@192.0.2.1/x?token=abc&a=1",
        "nested": [{"passphrase": "p"}, "text with " + SECRET + " inside"],
    }
    out = scrub(data, (SECRET,))
    assert out["jwt_secret"] == out["password"] == out["api_key"] == out["nested"][0]["passphrase"] == "***"
    assert out["api_keys_file"] == "/var/lib/camservice/api-keys.json" and out["host_key_file"] == "/x/key"
    assert out["token_ttl"] == 3600 and out["jwt_secret_empty"] is None
    assert out["url"] == "rtsp://***@192.0.2.1/x?token=***&a=1"
    assert out["nested"][1] == "text with *** inside"


def test_the_effective_config_is_redacted(write_config):
    config = load_config(write_config({
        "auth": {"jwt_secret": SECRET},
        "external_streams": {"candidates": ["rtsp://u:campw@192.0.2.9/s"]},
        "cameras": {"declared": [{"kind": "network", "url": "rtsp://u:campw@192.0.2.9/t"}]},
    }), environ={"CAMSERVICE_SERVER__PORT": "9123"})
    text = json.dumps(redacted_config(config, (SECRET,)))
    assert SECRET not in text and "campw" not in text
    assert json.loads(text)["server"]["port"] == 9123  # overrides are part of it


def test_static_report_and_archive(write_config, tmp_path):
    log = tmp_path / "log" / "cam.log"
    log.parent.mkdir()
    log.write_text('{"message": "hello rtsp://u:campw@192.0.2.9/s"}\n' * 3)
    config = load_config(write_config({"auth": {"jwt_secret": SECRET}, "logging": {"file": str(log)}}))
    config.data_dir.mkdir(parents=True)
    (config.data_dir / "jwt-secret").write_text(SECRET)
    report = collect_static(config, (SECRET,))
    assert report.sections["versions"]["camservice"]
    assert report.sections["log_file"]["bytes"] > 0
    assert report.sections["log_file"]["tail"][0] == '{"message": "hello rtsp://***@192.0.2.9/s"}'
    mode = oct((config.data_dir / "jwt-secret").stat().st_mode & 0o7777)
    assert {"name": "jwt-secret", "bytes": len(SECRET), "mode": mode} in report.sections["data_dir"]["entries"]
    report.prometheus = "camservice_children 1.0\n"
    path = write_archive(report, tmp_path / "out.tar.gz")
    assert path.stat().st_mode & 0o777 == 0o600
    with tarfile.open(path) as tar:
        names = {Path(m.name).name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
        assert all(m.mode == 0o600 for m in tar.getmembers())
    assert {"summary.txt", "versions.json", "config.json", "data_dir.json", "log_file.json",
            "log-tail.jsonl", "metrics.prom", "generated.json"} <= set(names)
    assert "tail" not in json.loads(names["log_file.json"])
    assert all(SECRET not in blob and "campw" not in blob for blob in names.values())


@pytest_twisted.ensureDeferred
async def test_a_service_that_does_not_answer_is_reported_as_not_running(write_config):
    config = load_config(write_config({"auth": {"jwt_secret": SECRET}}))
    asked = []

    def refused(url):
        asked.append(url)
        return defer.fail(ConnectionRefusedError("111: Connection refused"))

    report = Report()
    running = await collect_live(reactor, config, "tok", report, http_get=refused)
    assert running is False
    assert asked == [f"http://127.0.0.1:{config.server.port}/health/alive"]
    service = report.sections["service"]
    assert service["running"] is False and "Connection refused" in service["reason"]
    assert "NOT RUNNING" in render_text(report)


@pytest_twisted.ensureDeferred
async def test_without_a_token_only_the_http_endpoints_are_asked(write_config):
    config = load_config(write_config({"server": {"host": "0.0.0.0"}}))
    asked = []

    def ok(url):
        asked.append(url)
        return defer.succeed((200, b'{"status": "alive"}'))

    report = Report()
    assert await collect_live(reactor, config, None, report, http_get=ok) is True
    # a service bound to every interface is asked on loopback
    assert all(url.startswith(f"http://127.0.0.1:{config.server.port}/") for url in asked)
    assert [u.rsplit("/", 1)[-1] for u in asked] == ["alive", "ready", "cameras", "mediamtx", "metrics"]
    assert "secret" in report.sections["service"]["api_error"]
    assert report.sections["health"]["ready"] == {"code": 200, "body": {"status": "alive"}}
