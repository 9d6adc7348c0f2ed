"""The reload coordinator: load, check, apply in order, roll back, commit;
one reload at a time, requests meanwhile coalesced into one more run."""
from __future__ import annotations

import dataclasses
import os
import stat

import pytest
from twisted.internet import defer, task

from camservice.config import ConfigError, ConfigProblem, load_config
from camservice.events import EventBus
from camservice.metrics import Metrics
from camservice.ops.backups import ConfigBackups
from camservice.ops.reload import ReloadCoordinator, changed_keys, changed_sections


class Participant:
    """Records every call; can refuse in check or fail in apply."""

    def __init__(self, name, calls, keys=("logging", "auth"), refuse=None, fail_on=None):
        self.name = name
        self.calls = calls
        self.reloadable_keys = keys
        self.refuse = refuse
        self.fail_on = fail_on
        self.config = None

    def checkConfig(self, new):
        self.calls.append((self.name, "check", new.logging.level))
        if self.refuse:
            raise ConfigError([ConfigProblem(self.refuse, "refused by " + self.name)])

    def reconfigService(self, new):
        self.calls.append((self.name, "apply", new.logging.level))
        if self.fail_on is not None and new.logging.level == self.fail_on:
            return defer.fail(RuntimeError(f"{self.name} cannot take it"))
        self.config = new
        return defer.succeed(None)


@pytest.fixture
def configs(write_config, tmp_path):
    def make(**logging):
        return load_config(write_config({"logging": dict({"level": "info"}, **logging)}))

    return make


def coordinator(old, load, participants, clock, backups=None):
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    c = ReloadCoordinator(old, load, [(p.name, p) for p in participants], bus, Metrics(), clock,
                          backups=backups, run_blocking=lambda f, *a: defer.maybeDeferred(f, *a))
    return c, events


def loaded(config, text="logging: {}\n"):
    return lambda: defer.succeed((config, text))


def test_changed_keys_and_sections(configs):
    old, new = configs(), configs(level="debug")
    assert changed_keys(old, new) == ["logging.level"]
    assert changed_sections(old, new) == ["logging"]
    assert changed_sections(old, old) == []


def test_a_failing_loader_means_no_participant_ran(configs):
    calls = []
    old = configs()

    def failing_load():
        return defer.fail(ConfigError([ConfigProblem("server.port", "must be at most 65535", 70000)]))

    c, events = coordinator(old, failing_load, [Participant("a", calls)], task.Clock())
    result = c.reload("SIGHUP").result
    assert calls == []
    assert (result.status, result.stage) == ("refused", "load")
    assert result.reasons == ("server.port = 70000: must be at most 65535",)
    assert c.config is old
    (event,) = events
    assert event.topic == "system.config_changed"
    assert event.data["status"] == "refused" and event.data["who"] == "SIGHUP"


def test_apply_in_order_then_commit_and_announce(configs, tmp_path):
    calls = []
    old, new = configs(), configs(level="debug")
    backups = ConfigBackups(tmp_path / "backups")
    c, events = coordinator(old, loaded(new, "logging: {level: debug}\n"),
                            [Participant("a", calls), Participant("b", calls)], task.Clock(), backups)
    result = c.reload("admin").result
    assert calls == [("a", "check", "debug"), ("b", "check", "debug"), ("a", "apply", "debug"),
                     ("b", "apply", "debug")]
    assert (result.status, result.changed, result.who) == ("applied", ("logging",), "admin")
    assert c.config is new
    (copy,) = backups.copies()
    assert copy.read_text() == "logging: {level: debug}\n"
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
    assert result.backup == str(copy)
    assert events[0].data == {"status": "applied", "who": "admin", "changed": ["logging"], "backup": str(copy)}


def test_a_refusal_in_check_applies_nothing_and_names_every_reason(configs):
    calls = []
    old, new = configs(), configs(level="debug")
    c, events = coordinator(old, loaded(new), [Participant("a", calls, refuse="logging.level"),
                                              Participant("b", calls, refuse="auth.leeway")], task.Clock())
    result = c.reload().result
    assert [call for call in calls if call[1] == "apply"] == []
    assert result.status == "refused" and result.stage == "check"
    assert result.reasons == ("logging.level: refused by a", "auth.leeway: refused by b")
    assert c.config is old


def test_a_key_no_participant_takes_is_refused_by_name(configs, write_config):
    calls = []
    old = configs()
    new = dataclasses.replace(old, server=dataclasses.replace(old.server, port=9999, max_connections=7))
    c, _ = coordinator(old, loaded(new), [Participant("a", calls, keys=("server.max_connections",))],
                       task.Clock())
    result = c.reload().result
    assert result.status == "refused"
    assert result.reasons == ("server.port: cannot change while running; restart camservice to apply it",)
    assert [call for call in calls if call[1] == "apply"] == []


def test_a_failing_apply_rolls_back_those_applied_in_reverse(configs, tmp_path):
    calls = []
    old, new = configs(), configs(level="debug")
    backups = ConfigBackups(tmp_path / "backups")
    parts = [Participant("a", calls), Participant("b", calls), Participant("c", calls, fail_on="debug"),
             Participant("d", calls)]
    c, events = coordinator(old, loaded(new), parts, task.Clock(), backups)
    result = c.reload().result
    applies = [call for call in calls if call[1] == "apply"]
    assert applies == [("a", "apply", "debug"), ("b", "apply", "debug"), ("c", "apply", "debug"),
                       ("b", "apply", "info"), ("a", "apply", "info")]
    assert (result.status, result.stage) == ("rolled_back", "apply")
    assert result.reasons == ("c: c cannot take it",)
    assert c.config is old
    assert backups.copies() == []
    assert events[0].data["status"] == "rolled_back"


def test_reloads_never_overlap_and_requests_meanwhile_are_coalesced(configs):
    calls = []
    old, new = configs(), configs(level="debug")
    pending = []
    active = []

    def slow_load():
        active.append(1)
        assert len(active) == 1, "two reloads overlap"
        d = defer.Deferred()
        pending.append(d)
        return d

    c, events = coordinator(old, slow_load, [Participant("a", calls)], task.Clock())
    first = c.reload("SIGHUP")
    second = c.reload("SIGHUP")
    third = c.reload("admin")
    assert len(pending) == 1 and c.running_reload
    active.clear()
    pending[0].callback((new, "x"))
    assert first.result.status == "applied"
    # the two requests made during the first run share one more run
    assert len(pending) == 2 and c.runs == 2
    active.clear()
    pending[1].callback((new, "x"))
    assert second.result is third.result
    assert second.result.status == "unchanged"
    assert not c.running_reload
    assert [e.data["status"] for e in events] == ["applied"]


def test_backups_rotate(tmp_path):
    backups = ConfigBackups(tmp_path / "b")
    for i in range(5):
        backups.write(f"n: {i}\n", 1_700_000_000 + i, keep=3)
    assert [p.read_text() for p in backups.copies()] == ["n: 2\n", "n: 3\n", "n: 4\n"]
    assert stat.S_IMODE(os.stat(tmp_path / "b").st_mode) == 0o700
    backups.write("n: 5\n", 1_700_000_010, keep=0)
    assert backups.copies() == []


def test_refusal_reasons_hide_secret_values_and_url_credentials():
    from camservice.ops.reload import problem_lines

    error = ConfigError([
        ConfigProblem("auth.jwt_secret", "must be at least 32 characters", "hunter2", "f.yaml"),
        ConfigProblem("cameras.declared.0.url", "is not allowed", "rtsp://u:pw@192.0.2.1/x", "f.yaml"),
        ConfigProblem("auth.jwt_secret_file", "cannot be read", "/etc/secret", "f.yaml"),
    ])
    lines = problem_lines(error)
    assert lines[0] == "f.yaml: auth.jwt_secret: must be at least 32 characters"
    assert "pw" not in lines[1] and "***@192.0.2.1" in lines[1]
    assert "/etc/secret" in lines[2]
