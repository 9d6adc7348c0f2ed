"""V4L2Prober and run_process against a fake process reactor
(``fakes.process_reactor``): what is run, what a failing, hanging or
cancelled v4l2-ctl becomes, and that nothing is left behind."""
from __future__ import annotations

import os

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from camservice.cameras.prober import ProbeFailed, V4L2Prober
from camservice.procutil import ProcessResult, ProcessTimeout, run_process

from fakes.process_reactor import FakeProcessReactor
from helpers.deferreds import fails_with, has_no_result, outcome
from fakes.prober import probe_of, recording

NOW = 1_700_000_000.0
TIMEOUT = 5.0
GRACE = 2.0  # run_process's default, which V4L2Prober uses
EXE = "/usr/bin/v4l2-ctl"


@pytest.fixture
def reactor():
    r = FakeProcessReactor(NOW)
    yield r
    assert r.getDelayedCalls() == [], "delayed calls left on the fake reactor"
    assert r.alive() == [], "child processes left running"


@pytest.fixture
def prober(reactor):
    return V4L2Prober(reactor, EXE, TIMEOUT)


def by_option(reactor) -> dict:
    """The spawned processes by their last argument."""
    return {p.args[-1]: p for p in reactor.spawned}


def answer(process, name: str, kind: str) -> None:
    process.stdout(recording(name, kind).encode())
    process.exit(0)


# -- probe --------------------------------------------------------------------

def test_probe_runs_both_commands_at_once_on_the_node(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video3"))
    assert [p.args for p in reactor.spawned] == [
        [EXE, "--device=/dev/video3", "--all"],
        [EXE, "--device=/dev/video3", "--list-formats-ext"],
    ]
    assert all(p.executable == EXE for p in reactor.spawned)
    runs = by_option(reactor)
    answer(runs["--all"], "uvc_c920", "all")
    assert has_no_result(d)  # the formats are still to come
    answer(runs["--list-formats-ext"], "uvc_c920", "formats")
    assert outcome(d) == probe_of("uvc_c920")


def test_probe_output_in_pieces_is_put_together(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    runs = by_option(reactor)
    for kind, option in (("all", "--all"), ("formats", "--list-formats-ext")):
        data = recording("h264_cam", kind).encode()
        for i in range(0, len(data), 7):
            runs[option].stdout(data[i:i + 7])
        runs[option].exit(0)
    assert outcome(d) == probe_of("h264_cam")


def test_a_failing_v4l2_ctl_gives_its_last_stderr_line(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    for process in reactor.spawned:
        process.stderr(b"VIDIOC_QUERYCAP: failed: Input/output error\n")
        process.stderr(b"Cannot open device /dev/video0, exiting.\n")
        process.exit(255)
    e = fails_with(d, ProbeFailed)
    assert str(e) == "Cannot open device /dev/video0, exiting."


def test_one_failing_run_fails_the_probe_even_if_the_other_succeeded(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    runs = by_option(reactor)
    answer(runs["--all"], "uvc_c920", "all")
    runs["--list-formats-ext"].stderr(b"VIDIOC_ENUM_FMT: failed: Invalid argument\n")
    runs["--list-formats-ext"].exit(1)
    assert str(fails_with(d, ProbeFailed)) == "VIDIOC_ENUM_FMT: failed: Invalid argument"


def test_a_silent_failure_names_the_exit_status(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    for process in reactor.spawned:
        process.exit(3)
    assert str(fails_with(d, ProbeFailed)) == "v4l2-ctl exited with status 3"


def test_a_long_stderr_line_is_cut(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    for process in reactor.spawned:
        process.stderr(b"x" * 5000 + b"\n")
        process.exit(1)
    assert str(fails_with(d, ProbeFailed)) == "x" * 200


def test_a_v4l2_ctl_killed_by_a_signal_says_so(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    for process in reactor.spawned:
        process.exit(None, signal=11)
    reason = str(fails_with(d, ProbeFailed))
    assert "None" not in reason and "signal 11" in reason


def test_a_v4l2_ctl_that_never_answers_is_stopped_and_reported(reactor, prober):
    reactor.ignores_term = True  # stuck: only KILL ends it
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    reactor.advance(TIMEOUT - 0.001)
    assert [p.signals for p in reactor.spawned] == [[], []]
    reactor.advance(0.002)
    assert [p.signals for p in reactor.spawned] == [["TERM"], ["TERM"]]
    assert has_no_result(d)  # reported only once the children are gone
    reactor.advance(GRACE - 0.002)
    assert [p.signals for p in reactor.spawned] == [["TERM"], ["TERM"]]
    reactor.advance(0.002)
    assert [p.signals for p in reactor.spawned] == [["TERM", "KILL"], ["TERM", "KILL"]]
    reactor.advance(0)
    assert reactor.alive() == []
    assert str(fails_with(d, ProbeFailed)) == f"v4l2-ctl did not answer within {TIMEOUT} s"


def test_a_v4l2_ctl_that_answers_term_is_not_killed(reactor, prober):
    reactor.term_delay = 0.5
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    reactor.advance(TIMEOUT)
    assert has_no_result(d)
    reactor.advance(0.5)
    assert [p.signals for p in reactor.spawned] == [["TERM"], ["TERM"]]
    assert "did not answer within" in str(fails_with(d, ProbeFailed))


def test_cancelling_a_probe_kills_both_children(reactor, prober):
    reactor.ignores_term = True
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    reactor.advance(1)
    d.cancel()
    fails_with(d, defer.CancelledError)
    assert [p.signals for p in reactor.spawned] == [["TERM"], ["TERM"]]
    reactor.advance(GRACE)
    assert [p.signals for p in reactor.spawned] == [["TERM", "KILL"], ["TERM", "KILL"]]
    reactor.advance(0)
    assert reactor.alive() == []


def test_unreadable_output_is_a_probe_failure(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    for process in reactor.spawned:
        process.stdout(b"v4l2-ctl 1.99: something else entirely\n")
        process.exit(0)
    assert str(fails_with(d, ProbeFailed)).startswith("unreadable v4l2-ctl output")


def test_output_with_a_malformed_number_is_a_probe_or_a_probe_failure(reactor, prober):
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    runs = by_option(reactor)
    runs["--all"].stdout(recording("uvc_c920", "all").replace("640/480", "640/").encode())
    runs["--all"].exit(0)
    answer(runs["--list-formats-ext"], "uvc_c920", "formats")
    result = outcome(d)
    if isinstance(result, Failure):
        result.trap(ProbeFailed)
    else:
        assert result.modes == probe_of("uvc_c920").modes


def test_a_missing_v4l2_ctl_is_a_probe_failure(reactor, prober):
    reactor.spawn_error = FileNotFoundError(2, "No such file or directory")
    d = defer.ensureDeferred(prober.probe("/dev/video0"))
    assert str(fails_with(d, ProbeFailed)) == f"cannot run {EXE}: No such file or directory"


# -- controls and set_control ---------------------------------------------

def test_controls_runs_all_only_and_returns_the_controls(reactor, prober):
    d = defer.ensureDeferred(prober.controls("/dev/video2"))
    assert [p.args for p in reactor.spawned] == [[EXE, "--device=/dev/video2", "--all"]]
    answer(reactor.last(), "uvc_c920", "all")
    controls = outcome(d)
    assert len(controls) == 17 and controls == probe_of("uvc_c920").controls


def test_controls_of_unreadable_output_is_a_probe_failure(reactor, prober):
    d = defer.ensureDeferred(prober.controls("/dev/video2"))
    reactor.last().stdout(b"garbage\n")
    reactor.last().exit(0)
    assert "unreadable" in str(fails_with(d, ProbeFailed))


@pytest.mark.parametrize("value, shown", [(100, "100"), (-5, "-5"), (True, "1"), (False, "0")])
def test_set_control_argv(reactor, prober, value, shown):
    d = defer.ensureDeferred(prober.set_control("/dev/video1", "brightness", value))
    assert reactor.last().args == [EXE, "--device=/dev/video1", f"--set-ctrl=brightness={shown}"]
    reactor.last().exit(0)
    assert outcome(d) is None


def test_a_refused_control_is_a_probe_failure(reactor, prober):
    d = defer.ensureDeferred(prober.set_control("/dev/video1", "focus_absolute", 50))
    reactor.last().stderr(b"VIDIOC_S_EXT_CTRLS: failed: Permission denied\n")
    reactor.last().exit(255)
    assert str(fails_with(d, ProbeFailed)) == "VIDIOC_S_EXT_CTRLS: failed: Permission denied"


# -- run_process ----------------------------------------------------------------

def test_run_process_reports_output_and_status(reactor):
    d = run_process(reactor, ["/bin/tool", "-x"], TIMEOUT)
    p = reactor.last()
    assert (p.executable, p.args) == ("/bin/tool", ["/bin/tool", "-x"])
    assert p.guarded  # dies with camservice
    p.stdout(b"out")
    p.stderr(b"err")
    p.exit(4)
    assert outcome(d) == ProcessResult(4, None, b"out", b"err")


def test_run_process_gives_the_child_our_basic_environment_only(reactor, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin")
    monkeypatch.setenv("HOME", "/var/lib/camservice")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("CAMSERVICE_AUTH_SECRET", "do-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    d = run_process(reactor, ["/bin/tool"], TIMEOUT)
    env = reactor.last().env
    assert env["PATH"] == "/usr/local/bin:/usr/bin"
    assert env["HOME"] == "/var/lib/camservice" and env["LANG"] == "C.UTF-8"
    assert "CAMSERVICE_AUTH_SECRET" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert set(env) <= set(os.environ)
    reactor.last().exit(0)
    outcome(d)


def test_run_process_passes_an_explicit_environment_as_given(reactor):
    d = run_process(reactor, ["/bin/tool"], TIMEOUT, env={"A": "1"})
    assert reactor.last().env == {"A": "1"}
    reactor.last().exit(0)
    outcome(d)


def test_run_process_keeps_at_most_max_output_of_each_stream(reactor):
    d = run_process(reactor, ["/bin/tool"], TIMEOUT, max_output=8)
    p = reactor.last()
    p.stdout(b"01234")
    p.stdout(b"56789")
    p.stdout(b"abc")
    p.stderr(b"0123456789")
    p.exit(0)
    result = outcome(d)
    assert (result.stdout, result.stderr) == (b"01234567", b"01234567")


def test_run_process_times_out_only_once_the_child_is_gone(reactor):
    d = run_process(reactor, ["/usr/bin/ffprobe"], 3.0, grace=1.0)
    reactor.last().term_delay = 0.25
    reactor.advance(2.999)
    assert reactor.last().signals == [] and has_no_result(d)
    reactor.advance(0.002)
    assert reactor.last().signals == ["TERM"] and has_no_result(d)
    reactor.advance(0.25)
    assert str(fails_with(d, ProcessTimeout)) == "ffprobe did not finish within 3.0 s"


def test_run_process_kills_a_child_that_ignores_term_after_the_grace(reactor):
    reactor.ignores_term = True
    d = run_process(reactor, ["/bin/tool"], 3.0, grace=1.0)
    reactor.advance(3.0)
    reactor.advance(0.999)
    assert reactor.last().signals == ["TERM"]
    reactor.advance(0.002)
    assert reactor.last().signals == ["TERM", "KILL"]
    fails_with(d, ProcessTimeout)


def test_run_process_cancel_kills_the_child_and_fails_at_once(reactor):
    d = run_process(reactor, ["/bin/tool"], TIMEOUT)
    d.cancel()
    fails_with(d, defer.CancelledError)
    assert reactor.last().signals == ["TERM"]
    reactor.advance(reactor.term_delay)  # it goes; the kill timer goes with it
    assert reactor.alive() == []


def test_run_process_spawn_error_fails_and_leaves_no_timer(reactor):
    reactor.spawn_error = PermissionError(13, "Permission denied")
    fails_with(run_process(reactor, ["/bin/tool"], TIMEOUT), PermissionError)


def test_run_process_leaves_no_timer_after_a_normal_exit(reactor):
    d = run_process(reactor, ["/bin/tool"], TIMEOUT)
    reactor.last().exit(0)
    assert outcome(d).code == 0
    assert reactor.getDelayedCalls() == []


def test_a_child_gone_between_timeout_and_kill_is_not_an_error(reactor):
    reactor.ignores_term = True
    d = run_process(reactor, ["/bin/tool"], 1.0, grace=1.0)
    reactor.advance(1.0)
    reactor.last().exit(0)  # exits by itself after TERM; the KILL then finds nothing
    reactor.advance(1.0)
    assert reactor.last().signals == ["TERM"]
    fails_with(d, ProcessTimeout)


def test_configure_changes_the_program_and_timeout_of_the_next_run(reactor, prober):
    prober.configure("/opt/bin/v4l2-ctl", 1.0)
    d = defer.ensureDeferred(prober.set_control("/dev/video0", "brightness", 3))
    (process,) = reactor.spawned
    assert process.args == ["/opt/bin/v4l2-ctl", "--device=/dev/video0", "--set-ctrl=brightness=3"]
    reactor.advance(0.999)
    assert process.signals == []
    reactor.advance(0.002)
    assert process.signals == ["TERM"]
    reactor.advance(1.0)  # it answers TERM
    assert str(fails_with(d, ProbeFailed)) == "v4l2-ctl did not answer within 1.0 s"
