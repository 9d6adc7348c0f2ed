"""The children ledger kills only what a previous run left behind, and the
wrapper that makes a child die with its parent."""
from __future__ import annotations

import json
import subprocess

import pytest

from camservice.children import ChildLedger, dies_with_parent, process_identity


@pytest.fixture
def sleeper():
    child = subprocess.Popen(["sleep", "30"])
    yield child
    child.kill()
    child.wait()


def test_a_recorded_child_still_running_is_killed_at_the_next_start(tmp_path, sleeper):
    ChildLedger(tmp_path / "children.json").record(sleeper.pid, "sleeper", "sleep")
    assert json.loads((tmp_path / "children.json").read_text())[str(sleeper.pid)]["name"] == "sleeper"

    killed = ChildLedger(tmp_path / "children.json").kill_leftovers()
    assert killed == [sleeper.pid]
    assert sleeper.wait(timeout=5) == -9
    assert json.loads((tmp_path / "children.json").read_text()) == {}


def test_a_pid_reused_by_another_process_is_left_alone(tmp_path, sleeper):
    start, exe = process_identity(sleeper.pid)
    ledger = tmp_path / "children.json"
    ledger.write_text(json.dumps({
        str(sleeper.pid): {"start": start - 1, "exe": exe, "name": "older"},  # same pid, other start time
    }))
    assert ChildLedger(ledger).kill_leftovers() == []
    ledger.write_text(json.dumps({str(sleeper.pid): {"start": start, "exe": "/usr/bin/mediamtx", "name": "other"}}))
    assert ChildLedger(ledger).kill_leftovers() == []
    assert sleeper.poll() is None


def test_a_forgotten_child_is_not_killed(tmp_path, sleeper):
    ledger = ChildLedger(tmp_path / "children.json")
    ledger.record(sleeper.pid, "sleeper", "sleep")
    ledger.forget(sleeper.pid)
    assert ChildLedger(tmp_path / "children.json").kill_leftovers() == []
    assert sleeper.poll() is None


def test_an_unreadable_ledger_is_ignored_and_replaced(tmp_path):
    (tmp_path / "children.json").write_text("{not json")
    assert ChildLedger(tmp_path / "children.json").kill_leftovers() == []
    assert json.loads((tmp_path / "children.json").read_text()) == {}


def test_no_ledger_is_a_clean_start(tmp_path):
    assert ChildLedger(tmp_path / "children.json").kill_leftovers() == []


def test_children_run_under_setpriv_with_a_parent_death_signal():
    assert dies_with_parent(["ffmpeg", "-i", "x"], setpriv="/usr/bin/setpriv") == [
        "/usr/bin/setpriv", "--pdeathsig", "KILL", "--", "ffmpeg", "-i", "x"]
    assert dies_with_parent(["ffmpeg"], setpriv="") == ["ffmpeg"]  # no setpriv: the ledger covers it


def test_the_wrapper_really_kills_an_orphan(tmp_path):
    # a shell that starts a guarded sleep and dies: the sleep dies too
    script = f"{' '.join(dies_with_parent(['sleep', '30']))} & echo $!; sleep 0.2; kill -9 $$"
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10).stdout
    pid = int(out.split()[0])
    for _ in range(100):
        if process_identity(pid) is None:
            break
        subprocess.run(["sleep", "0.05"])
    assert process_identity(pid) is None
