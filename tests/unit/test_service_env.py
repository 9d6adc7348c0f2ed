"""tools/service_env.py: the unit's environment, read from the unit file,
is what tools/run.sh, the tests and the benchmarks start camservice with."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import processes
from helpers.processes import service_env_tool as tool

ROOT = Path(__file__).resolve().parents[2]

#: what the shipped unit sets (README, Memory, says why)
SHIPPED = {
    "MALLOC_ARENA_MAX": "2",
    "PYTHONOPTIMIZE": "2",
    "PYTHONPYCACHEPREFIX": "/var/cache/camservice/python",
}


def test_the_unit_file_environment_is_what_service_env_reads():
    assert tool.UNIT.resolve() == (ROOT / "debian" / "camservice.service").resolve()
    assert tool.unit_environment() == SHIPPED


def test_service_env_is_the_base_with_the_units_variables_over_it(tmp_path):
    base = {"PATH": "/usr/bin", "PYTHONOPTIMIZE": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    env = tool.service_env(base, pycache=tmp_path / "pyc")
    # the bytecode cache must fill, so PYTHONDONTWRITEBYTECODE goes
    assert env == {"PATH": "/usr/bin", **SHIPPED, "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")}
    assert (tmp_path / "pyc").is_dir()
    assert base["PYTHONOPTIMIZE"] == "0"  # the caller's mapping is left alone


def test_the_script_prints_the_assignments_for_env(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "service_env.py"), "--pycache", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.splitlines() == [f"{k}={v}" for k, v in {**SHIPPED, "PYTHONPYCACHEPREFIX": str(tmp_path)}.items()]


def test_environment_lines_are_read_as_systemd_reads_them(tmp_path):
    unit = tmp_path / "x.service"
    unit.write_text(
        "[Unit]\nEnvironment=NOT=this\n"
        "[Service]\n# Environment=COMMENTED=out\n; Environment=ALSO=out\n"
        'Environment=A=1 "B=two words" \\\n  C=3\n'
        "Environment=A=again\n"
        "ExecStart=/bin/true\n"
        "[Install]\nEnvironment=NOR=this\n"
    )
    assert tool.unit_environment(unit) == {"A": "again", "B": "two words", "C": "3"}
    unit.write_text("[Service]\nEnvironment=novalue\n")
    with pytest.raises(ValueError, match="novalue"):
        tool.unit_environment(unit)


def test_twistd_in_the_tests_starts_with_the_units_environment(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONOPTIMIZE", "0")

    class Reactor:
        def spawnProcess(self, proto, executable, args, env=None, path=None):
            self.env = env
            return object()

    reactor = Reactor()
    processes.start_twistd(reactor, env={"CAMSERVICE_SERVER__PORT": "1"})
    assert {k: reactor.env.get(k) for k in SHIPPED} == {
        **SHIPPED, "PYTHONPYCACHEPREFIX": str(processes.TEST_PYCACHE)}
    assert "PYTHONDONTWRITEBYTECODE" not in reactor.env
    assert reactor.env["CAMSERVICE_SERVER__PORT"] == "1"
    assert reactor.env["PATH"]  # the rest of the caller's environment


def test_the_benchmarks_start_the_service_with_the_units_environment(monkeypatch):
    sys.path.insert(0, str(ROOT / "tests" / "bench"))
    try:
        import _harness
    finally:
        sys.path.remove(str(ROOT / "tests" / "bench"))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("BENCH_SERVICE_ENV", raising=False)
    service = _harness.Service(cameras=None)
    try:
        assert {k: service.env.get(k) for k in SHIPPED} == {
            **SHIPPED, "PYTHONPYCACHEPREFIX": str(_harness.BENCH_PYCACHE)}
        assert "PYTHONDONTWRITEBYTECODE" not in service.env
    finally:
        service.stop()
