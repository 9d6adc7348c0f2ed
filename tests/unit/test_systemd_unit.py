"""conf/camservice.service: what the unit promises, and systemd's own checks
(``systemd-analyze verify`` clean, a security exposure score of at most 2.0)
where systemd-analyze exists."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "conf" / "camservice.service"


def _service() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_unit_is_notify_with_a_watchdog_reload_and_the_tree_killed_together():
    service = _service()
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] == ["30s"]
    assert service["Restart"] == ["on-failure"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["KillMode"] == ["control-group"]
    assert service["ExecStart"] == [
        "/usr/bin/twistd3 --nodaemon --pidfile= camservice --config /etc/camservice/camservice.yaml"]
    assert service["User"] == ["camservice"]


def test_the_unit_is_hardened_and_reaches_only_video_devices():
    service = _service()
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["CapabilityBoundingSet"] == [""]
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/var/lib/camservice /var/log/camservice"]
    assert service["DevicePolicy"] == ["closed"] and service["DeviceAllow"] == ["char-video4linux rw"]
    assert service["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    for key in ("PrivateTmp", "ProtectHome", "ProtectKernelTunables", "ProtectKernelModules",
                "ProtectControlGroups", "RestrictNamespaces", "LockPersonality"):
        assert service[key] == ["yes"], key
    # limits of the whole tree, never a CPU quota that would throttle FFmpeg
    assert "CPUQuota" not in service
    assert re.fullmatch(r"\d+[MG]", service["MemoryMax"][0]) and int(service["TasksMax"][0]) >= 100


needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")


@needs_systemd
def test_systemd_analyze_verify_is_clean(tmp_path):
    # a copy: verify also checks the unit's file name and its folder
    unit = tmp_path / "camservice.service"
    shutil.copy(UNIT, unit)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    lines = [l for l in (result.stdout + result.stderr).splitlines()
             if "twistd3" not in l]  # a machine without Debian's Twisted lacks the binary
    assert result.returncode == 0 or not lines, result.stdout + result.stderr
    assert lines == [], lines


@needs_systemd
def test_systemd_analyze_security_scores_it_ok(tmp_path):
    unit = tmp_path / "camservice.service"
    shutil.copy(UNIT, unit)
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for camservice.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0


def test_the_unit_limits_malloc_arenas_and_the_package_installs_the_same_unit():
    # glibc makes up to 8 arenas per core for the thread pool's threads;
    # two keep what they hold resident small (see README, Memory)
    assert "MALLOC_ARENA_MAX=2" in _service()["Environment"]
    debian = ROOT / "debian" / "camservice.service"
    assert debian.resolve() == UNIT.resolve()


def test_the_unit_runs_python_with_cached_optimised_bytecode():
    service = _service()
    # pymalloc: glibc malloc's heap grew under steady load (README, Memory)
    assert not [e for e in service["Environment"] if e.startswith("PYTHONMALLOC=")]
    # -OO, its bytecode cached in a folder the service user may write, which
    # ProtectSystem=strict leaves writable and a purge removes
    assert "PYTHONOPTIMIZE=2" in service["Environment"]
    assert "PYTHONPYCACHEPREFIX=/var/cache/camservice/python" in service["Environment"]
    assert service["CacheDirectory"] == ["camservice"] and service["CacheDirectoryMode"] == ["0750"]
    postrm = (ROOT / "debian" / "camservice.postrm").read_text()
    purge = postrm[postrm.index("    purge)"):postrm.index(";;", postrm.index("    purge)"))]
    removed = [line.split()[2:] for line in purge.splitlines() if line.strip().startswith("rm -rf ")]
    assert any("/var/cache/camservice" in paths for paths in removed), removed
