"""Retention on a real folder with a Clock: age and size limits, oldest
first, never a held file, audit events, the stored policy winning over
the configuration across restarts, the automatic timer and reload."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from camservice.config.model import MediaConfig, RetentionConfig
from camservice.media.files import MediaFiles
from camservice.media.retention import Retention
from camservice.metrics import Metrics
from camservice.rpc.audit import Audit

from helpers.deferreds import outcome

DAY = 86400
#: the clock fixture's time
NOW = 1_700_000_000.0


def ok(d):
    r = outcome(d)
    assert not isinstance(r, Failure), r
    return r


def inline(f, *args, **kwargs):
    return defer.maybeDeferred(f, *args, **kwargs)


def put(folder, name, size, age_days):
    path = folder / name
    path.write_bytes(b"")
    os.truncate(path, size)  # sparse: gigabytes cost nothing
    t = NOW - age_days * DAY
    os.utime(path, (t, t))
    return path


@dataclasses.dataclass
class New:
    media: MediaConfig


@pytest.fixture
def world(tmp_path, clock, log_events):
    rec, snap = tmp_path / "recordings", tmp_path / "snapshots"
    rec.mkdir()
    snap.mkdir()
    config = MediaConfig(recordings_dir=rec, snapshots_dir=snap)
    files = MediaFiles(config, tmp_path / "m.json", clock, run_blocking=inline)
    audit_events = log_events("camservice.audit")
    started = []

    def retention(retention_config=RetentionConfig(), start=True):
        r = Retention(retention_config, tmp_path / "retention.json", files, Audit(Metrics(), None), clock,
                      run_blocking=inline)
        if start:
            r.startService()
            started.append(r)
        return r

    class World:
        pass

    w = World()
    w.rec, w.snap, w.files, w.retention, w.audit, w.path = rec, snap, files, retention, audit_events, tmp_path
    files.startService()
    yield w
    for r in started:
        if r.running:
            ok(r.stopService())
    ok(files.stopService())


def names(w):
    return sorted(p.name for p in list(w.rec.iterdir()) + list(w.snap.iterdir()))


def test_age_deletes_older_files_of_both_kinds_and_audits(world):
    w = world
    put(w.rec, "camera1_old.mp4", 100, 10)
    put(w.snap, "camera1_old.jpg", 10, 8)
    put(w.rec, "camera1_new.mp4", 100, 1)
    ok(w.files.rescan())
    r = w.retention()
    ok(r.set_policy("age", False, max_age_days=5))
    done = ok(r.cleanup(who="admin"))
    assert (done.files_deleted, done.space_freed, done.skipped_held) == (2, 110, 0)
    assert names(w) == ["camera1_new.mp4"]
    assert [f.name for f in w.files.files("recordings")] == ["camera1_new.mp4"]
    deletions = [e for e in w.audit if e.get("what") == "retention.delete"]
    assert sorted(e["filename"] for e in deletions) == ["camera1_old.jpg", "camera1_old.mp4"]
    assert all(e["audit"] is True and e["who"] == "admin" and e["outcome"] == "success" for e in deletions)


def test_size_deletes_oldest_first_until_under_the_limit(world):
    w = world
    for i, age in enumerate((5, 4, 3, 2, 1)):
        put(w.rec, f"camera1_{i}.mp4", 300_000_000, age)
    ok(w.files.rescan())
    r = w.retention()
    ok(r.set_policy("size", False, max_size_gb=1))  # 1.5 GB there: two oldest go
    done = ok(r.cleanup())
    assert done.files_deleted == 2 and done.space_freed == 600_000_000
    assert names(w) == ["camera1_2.mp4", "camera1_3.mp4", "camera1_4.mp4"]


def test_a_held_file_is_never_deleted(world):
    w = world
    put(w.rec, "camera1_a.mp4", 600_000_000, 5)
    put(w.rec, "camera1_b.mp4", 600_000_000, 4)
    put(w.rec, "camera1_c.mp4", 600_000_000, 3)
    ok(w.files.rescan())
    r = w.retention()
    ok(r.set_policy("size", False, max_size_gb=1))
    hold = w.files.hold("recordings", "camera1_a.mp4")
    done = ok(r.cleanup())
    # a, the oldest, is spared (and still counts): b and c go to get under 1 GB
    assert (done.skipped_held, done.files_deleted) == (1, 2)
    assert names(w) == ["camera1_a.mp4"]
    hold()
    ok(r.set_policy("age", False, max_age_days=1))
    ok(r.cleanup())
    assert names(w) == []


def test_manual_applies_both_limits_and_nothing_runs_by_itself(world, clock):
    w = world
    put(w.rec, "camera1_old.mp4", 1, 40)
    put(w.rec, "camera1_new.mp4", 1, 1)
    ok(w.files.rescan())
    r = w.retention(RetentionConfig(policy_type="manual", enabled=True, max_age_days=30, interval=60))
    clock.advance(600)
    assert names(w) == ["camera1_new.mp4", "camera1_old.mp4"]
    assert ok(r.cleanup()).files_deleted == 1
    assert names(w) == ["camera1_new.mp4"]


def test_automatic_cleanup_runs_every_interval_once_enabled(world, clock):
    w = world
    put(w.rec, "camera1_a.mp4", 1, 3)
    ok(w.files.rescan())
    r = w.retention(RetentionConfig(interval=100))
    ok(r.set_policy("age", True, max_age_days=5))
    clock.advance(99)
    put(w.rec, "camera1_b.mp4", 1, 10)
    ok(w.files.rescan())
    clock.advance(1.5)
    assert names(w) == ["camera1_a.mp4"]
    assert any(e.get("who") == "retention" for e in w.audit)
    ok(r.set_policy("age", False))
    clock.advance(1000)  # nothing armed any more (the clock fixture checks)
    assert not [c for c in clock.getDelayedCalls() if "Retention" in repr(c.func)]


def test_stored_policy_wins_after_restart_and_over_reload(world):
    w = world
    r = w.retention(RetentionConfig(policy_type="manual", max_age_days=30))
    stored = ok(r.set_policy("age", True, max_age_days=7))
    assert stored.to_json() == {"policy_type": "age", "enabled": True, "max_age_days": 7, "max_size_gb": 10}
    assert json.loads((w.path / "retention.json").read_text())["max_age_days"] == 7
    ok(r.stopService())
    again = w.retention(RetentionConfig(policy_type="size", max_age_days=90))
    assert again.policy.policy_type == "age" and again.policy.max_age_days == 7
    new = New(MediaConfig(retention=RetentionConfig(policy_type="manual", max_age_days=1)))
    again.checkConfig(new)
    ok(again.reconfigService(new))
    assert again.policy.policy_type == "age" and again.policy.max_age_days == 7


def test_without_a_stored_policy_reload_changes_the_defaults(world):
    w = world
    r = w.retention(RetentionConfig(policy_type="manual"))
    assert r.policy.policy_type == "manual"
    ok(r.reconfigService(New(MediaConfig(retention=RetentionConfig(policy_type="size", max_size_gb=3)))))
    assert (r.policy.policy_type, r.policy.max_size_gb) == ("size", 3)


def test_a_broken_stored_policy_falls_back_value_by_value(world):
    w = world
    (w.path / "retention.json").write_text(json.dumps({"policy_type": "forever", "enabled": True, "max_age_days": -1}))
    r = w.retention(RetentionConfig(policy_type="size", max_age_days=12))
    assert r.policy.to_json() == {"policy_type": "size", "enabled": True, "max_age_days": 12, "max_size_gb": 10}
