"""Supervisor: restarts with backoff and jitter, a stop that waits for
every child, deaths explained in the log and routed output lines, tested
against a fake process reactor (modelled on procmon's own tests'
``DummyProcessReactor``) through public behaviour only."""
from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.logger import LogLevel, Logger, formatEvent
from twisted.python.failure import Failure

from camservice.supervisor import Supervisor, child_environment

from helpers.deferreds import has_no_result, outcome

NAMESPACE = "tests.unit.test_supervisor"
KILL_TIME = 5
MIN_DELAY = 2
MAX_DELAY = 10
THRESHOLD = 10
NOW = 1_700_000_000.0


class Recorder(Supervisor):
    threshold = THRESHOLD
    killTime = KILL_TIME
    minRestartDelay = MIN_DELAY
    maxRestartDelay = MAX_DELAY

    def __init__(self, reactor, jitter=lambda: 0):
        super().__init__(reactor, Logger(namespace=NAMESPACE), jitter=jitter)
        self.hooks: list[tuple] = []

    def started(self, name):
        self.hooks.append(("started", name))

    def exited(self, name, status, signal):
        self.hooks.append(("exited", name, status, signal))


class Levels(Recorder):
    """Lines mentioning "panic" are errors, "chatter" debug."""

    def line_level(self, line, stream):
        if "panic" in line:
            return "error"
        if "chatter" in line:
            return "debug"
        return super().line_level(line, stream)


@pytest.fixture
def reactor(process_reactor):
    return process_reactor


@pytest.fixture
def logged(log_events):
    """Events the supervisor logged (its namespace only)."""
    return log_events(NAMESPACE)


@pytest.fixture
def make(reactor):
    made = []

    def make(cls=Recorder):
        supervisor = cls(reactor)
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:  # a failed test still leaves a clean reactor
        if supervisor.running:
            d = supervisor.stopService()
            for process in reactor.alive():
                process.ignores_term = process.ignores_kill = False
            reactor.advance(KILL_TIME + 6)
            d.addErrback(lambda f: None)


@pytest.fixture
def supervisor(make):
    return make()


def exits(logged):
    """``(level, name, status, signal, text)`` of each logged exit."""
    return [(e["log_level"], e["name"], e["status"], e["signal"], formatEvent(e))
            for e in logged if "status" in e and "name" in e]


def lines(logged):
    """``(level, tag, stream, line)`` of each logged output line."""
    return [(e["log_level"], e["tag"], e["stream"], e["line"]) for e in logged if "line" in e]


# -- start ---------------------------------------------------------------------

def test_children_start_with_the_service(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a", "-x"], env={"PATH": "/bin"}, cwd="/srv")
    assert reactor.spawned == []
    supervisor.startService()
    [process] = reactor.spawned
    assert (process.executable, process.args, process.env, process.path) == ("/bin/a", ["/bin/a", "-x"],
                                                                             {"PATH": "/bin"}, "/srv")
    assert supervisor.hooks == [("started", "a")]
    assert supervisor.pid_of("a") == process.pid
    assert supervisor.pid_of("b") is None


def test_a_child_added_while_running_starts_at_once(supervisor, reactor):
    supervisor.startService()
    supervisor.addProcess("a", ["/bin/a"])
    assert [p.args for p in reactor.spawned] == [["/bin/a"]]
    assert supervisor.hooks == [("started", "a")]


def test_child_environment_keeps_only_what_a_child_needs():
    environ = {"PATH": "/usr/bin", "HOME": "/home/cam", "LANG": "C.UTF-8", "TZ": "UTC",
               "CAMSERVICE_JWT_SECRET": "s3cret", "AWS_SECRET_ACCESS_KEY": "x", "PYTHONPATH": "/x"}
    assert child_environment(environ) == {"PATH": "/usr/bin", "HOME": "/home/cam", "LANG": "C.UTF-8", "TZ": "UTC"}


# -- stop --------------------------------------------------------------------------

def test_stop_fires_only_after_every_child_exited(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.addProcess("b", ["/bin/b"])
    supervisor.startService()
    fast, slow = reactor.spawned
    fast.term_delay, slow.term_delay = 1, 3
    d = supervisor.stopService()
    assert fast.signals == ["TERM"] and slow.signals == ["TERM"]
    reactor.advance(1)
    assert not fast.alive and slow.alive
    assert has_no_result(d)
    reactor.advance(2 - 0.001)
    assert has_no_result(d)
    reactor.advance(0.002)
    assert outcome(d) is None
    assert reactor.alive() == []
    assert len(reactor.spawned) == 2  # nothing was restarted
    assert ("exited", "a", None, 15) in supervisor.hooks and ("exited", "b", None, 15) in supervisor.hooks


def test_a_child_that_ignores_term_is_killed_after_kill_time(supervisor, reactor, logged):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    process = reactor.last()
    process.ignores_term = True
    d = supervisor.stopService()
    reactor.advance(KILL_TIME - 0.001)
    assert process.signals == ["TERM"]
    assert has_no_result(d)
    reactor.advance(0.002)  # well within killTime + 5
    assert process.signals == ["TERM", "KILL"]
    assert outcome(d) is None
    assert supervisor.hooks[-1] == ("exited", "a", None, 9)
    assert exits(logged)[-1][:4] == (LogLevel.info, "a", None, 9)


def test_stop_gives_up_waiting_kill_time_plus_5_seconds_after_a_child_ignored_kill(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    process = reactor.last()
    process.ignores_term = process.ignores_kill = True
    d = supervisor.stopService()
    reactor.advance(KILL_TIME + 5 - 0.001)
    assert process.signals == ["TERM", "KILL"]
    assert has_no_result(d)
    reactor.advance(0.002)
    failure = outcome(d)
    assert isinstance(failure, Failure) and failure.check(defer.TimeoutError)
    process.exit(None, 9)  # reaped at last: nothing breaks
    assert supervisor.hooks[-1] == ("exited", "a", None, 9)


def test_stop_without_running_children_fires_at_once(supervisor, reactor):
    supervisor.startService()
    assert outcome(supervisor.stopService()) is None
    supervisor.addProcess("a", ["/bin/a"])  # not running: not started
    assert reactor.spawned == []


def test_stop_cancels_a_pending_restart(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.last().exit(1)  # died at once: restart in MIN_DELAY seconds
    assert outcome(supervisor.stopService()) is None
    reactor.advance(MAX_DELAY)
    assert len(reactor.spawned) == 1


def test_stop_while_a_child_is_already_exiting(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    process = reactor.last()
    supervisor.removeProcess("a")  # TERM sent, exit pending
    d = supervisor.stopService()
    assert has_no_result(d)
    reactor.advance(process.term_delay)
    assert outcome(d) is None


def test_wait_stopped_fires_once_the_removed_child_exited(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.addProcess("b", ["/bin/b"])
    supervisor.startService()
    a, b = reactor.spawned
    supervisor.removeProcess("a")
    d = supervisor.wait_stopped("a")
    assert a.signals == ["TERM"] and b.signals == []
    reactor.advance(a.term_delay - 0.001)
    assert has_no_result(d)
    reactor.advance(0.002)
    assert outcome(d) is None
    reactor.advance(MAX_DELAY)
    assert len(reactor.spawned) == 2 and b.alive  # a is not restarted, b untouched
    assert outcome(supervisor.wait_stopped("never-added")) is None


def test_remove_process_cancels_a_pending_restart(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.last().exit(1)  # restart due in MIN_DELAY seconds
    supervisor.removeProcess("a")
    assert outcome(supervisor.wait_stopped("a")) is None
    try:
        assert reactor.getDelayedCalls() == []
    finally:
        for call in reactor.getDelayedCalls():
            call.cancel()


# -- deaths ---------------------------------------------------------------------------

def test_exit_status_and_signal_reach_exited_and_the_log(supervisor, reactor, logged):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.advance(THRESHOLD + 1)
    reactor.last().exit(3)
    assert supervisor.hooks[-1] == ("exited", "a", 3, None)
    level, name, status, signal, text = exits(logged)[-1]
    assert (level, name, status, signal) == (LogLevel.warn, "a", 3, None)
    assert "restarting" in text and "status 3" in text
    reactor.advance(0)  # it had run long enough: restarted at once
    reactor.last().exit(None, 11)
    assert supervisor.hooks[-1] == ("exited", "a", None, 11)
    assert exits(logged)[-1][:4] == (LogLevel.warn, "a", None, 11)
    assert "signal 11" in exits(logged)[-1][4]
    reactor.advance(MIN_DELAY)
    reactor.last().exit(0)
    assert supervisor.hooks[-1] == ("exited", "a", 0, None)
    reactor.advance(2 * MIN_DELAY)
    d = supervisor.stopService()
    reactor.advance(1)
    assert outcome(d) is None
    level, name, status, signal, text = exits(logged)[-1]
    assert (level, name, status, signal) == (LogLevel.info, "a", None, 15)
    assert "stopped" in text


def test_a_child_that_dies_is_restarted_while_running(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.advance(THRESHOLD)  # a long run ...
    reactor.last().exit(1)
    assert len(reactor.spawned) == 1
    reactor.advance(0)  # ... is restarted at once
    assert len(reactor.spawned) == 2
    assert [h for h in supervisor.hooks if h[0] == "started"] == [("started", "a")] * 2


def test_quick_deaths_back_off_doubling_up_to_the_maximum(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    for delay in (MIN_DELAY, 2 * MIN_DELAY, 4 * MIN_DELAY, MAX_DELAY, MAX_DELAY):
        spawned = len(reactor.spawned)
        reactor.last().exit(1)
        reactor.advance(delay - 0.001)
        assert len(reactor.spawned) == spawned, delay
        reactor.advance(0.002)
        assert len(reactor.spawned) == spawned + 1, delay
    # a run past the threshold resets the backoff
    reactor.advance(THRESHOLD)
    reactor.last().exit(1)
    reactor.advance(0)
    reactor.last().exit(1)
    spawned = len(reactor.spawned)
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == spawned + 1


def test_a_child_that_dies_while_stopping_is_not_restarted(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    d = supervisor.stopService()
    reactor.last().exit(2)  # before TERM took effect
    assert outcome(d) is None
    reactor.advance(MAX_DELAY)
    assert len(reactor.spawned) == 1


def test_a_child_that_cannot_be_spawned_is_logged_and_retried(reactor, logged):
    # not the ``make`` fixture: today the failed spawn leaves a protocol
    # without a transport behind, and stopService then fails too
    supervisor = Recorder(reactor)
    supervisor.addProcess("a", ["/nonexistent/a"])
    reactor.spawn_error = FileNotFoundError(2, "No such file or directory", "/nonexistent/a")
    supervisor.startService()  # must not raise: the daemon keeps running
    assert [e for e in logged if e["log_level"] in (LogLevel.error, LogLevel.critical)]
    reactor.spawn_error = None
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == 1
    d = supervisor.stopService()
    reactor.advance(1)
    assert outcome(d) is None


# -- output lines -------------------------------------------------------------------------

def test_output_lines_are_logged_by_default_as_info_and_stderr_as_warnings(supervisor, reactor, logged):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    process = reactor.last()
    process.stdout(b"hello\nwor")
    process.stdout(b"ld\n")
    process.stderr("dégât\n".encode())
    assert lines(logged) == [
        (LogLevel.info, "a", "stdout", "hello"),
        (LogLevel.info, "a", "stdout", "world"),
        (LogLevel.warn, "a", "stderr", "dégât"),
    ]
    assert formatEvent(logged[0]) == "[a] hello"


def test_line_level_routes_each_line(make, reactor, logged):
    supervisor = make(Levels)
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    process = reactor.last()
    process.stdout(b"panic: out of memory\nsome chatter\nplain\n")
    process.stderr(b"chatter on stderr\nplain on stderr\n")
    assert [(level, line) for level, _tag, _stream, line in lines(logged)] == [
        (LogLevel.error, "panic: out of memory"),
        (LogLevel.debug, "some chatter"),
        (LogLevel.info, "plain"),
        (LogLevel.debug, "chatter on stderr"),
        (LogLevel.warn, "plain on stderr"),
    ]


def test_line_level_is_asked_with_the_line_and_its_stream(make, reactor):
    asked = []

    class Asking(Recorder):
        def line_level(self, line, stream):
            asked.append((line, stream))
            return "info"

    supervisor = make(Asking)
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.last().stdout(b"out\n")
    reactor.last().stderr(b"\xff\xfe\n")  # not UTF-8: logged as its repr
    assert asked == [("out", "stdout"), (repr(b"\xff\xfe"), "stderr")]


def test_a_last_line_without_newline_is_logged_when_the_child_exits(supervisor, reactor, logged):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.last().stderr(b"fatal: no newline")
    assert lines(logged) == []
    reactor.last().exit(1)
    assert (LogLevel.warn, "a", "stderr", "fatal: no newline") in lines(logged)
    reactor.advance(MIN_DELAY)


def test_a_child_exit_logs_no_empty_line(supervisor, reactor, logged):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.last().stdout(b"complete line\n")
    reactor.last().stderr(b"complete line\n")
    reactor.last().exit(1)
    reactor.advance(MIN_DELAY)
    assert [line for *_rest, line in lines(logged)] == ["complete line", "complete line"]


def test_default_line_level(supervisor):
    assert supervisor.line_level("anything", "stdout") == "info"
    assert supervisor.line_level("anything", "stderr") == "warn"


def test_url_credentials_in_a_childs_output_are_redacted(supervisor, reactor, logged):
    supervisor.addProcess("mediamtx", ["/bin/mediamtx"])
    supervisor.startService()
    reactor.last().stdout(b"[path camera2000] [RTSP source] ERR: rtsp://u:Secr3t@192.0.2.1:554/x refused\n")
    assert lines(logged)[-1][3] == "[path camera2000] [RTSP source] ERR: rtsp://***@192.0.2.1:554/x refused"


# -- our own supervisor: jitter, re-adding, the protocol --------------------------------

def test_the_backoff_has_jitter(reactor):
    supervisor = Recorder(reactor, jitter=lambda: 0.5)
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    reactor.last().exit(1)
    reactor.advance(MIN_DELAY + 0.5 - 0.001)
    assert len(reactor.spawned) == 1
    reactor.advance(0.002)
    assert len(reactor.spawned) == 2
    reactor.advance(THRESHOLD)
    reactor.last().exit(1)  # after a long run: at once, no jitter
    reactor.advance(0)
    assert len(reactor.spawned) == 3
    d = supervisor.stopService()
    reactor.advance(1)
    assert outcome(d) is None


def test_a_child_removed_and_added_again_while_exiting_starts_once_the_old_one_is_gone(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a", "old"])
    supervisor.startService()
    old = reactor.last()
    supervisor.removeProcess("a")
    supervisor.addProcess("a", ["/bin/a", "new"])
    assert len(reactor.spawned) == 1  # never two at once
    reactor.advance(old.term_delay)
    assert [p.args for p in reactor.alive()] == [["/bin/a", "new"]]
    assert "a" in supervisor and supervisor.names() == ["a"]


def test_a_name_cannot_be_added_twice(supervisor):
    supervisor.addProcess("a", ["/bin/a"])
    with pytest.raises(KeyError):
        supervisor.addProcess("a", ["/bin/b"])


def test_the_environment_is_exactly_the_one_given(supervisor, reactor, monkeypatch):
    monkeypatch.setenv("CAMSERVICE_JWT_SECRET", "s3cret")
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    assert reactor.last().env == {}
    assert reactor.last().guarded  # dies with camservice


def test_each_run_has_its_own_protocol_whose_ended_fires(supervisor, reactor):
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    first = reactor.last().proto
    ended = []
    first.ended.addCallback(ended.append)
    reactor.advance(THRESHOLD)
    reactor.last().exit(7)
    assert ended and ended[0].exitCode == 7
    reactor.advance(0)
    assert reactor.last().proto is not first


def test_the_ledger_records_each_running_child(reactor, tmp_path):
    from camservice.children import ChildLedger

    recorded = []

    class Ledger(ChildLedger):
        def record(self, pid, name, executable):
            recorded.append(("record", pid, name, executable))

        def forget(self, pid):
            recorded.append(("forget", pid))

    supervisor = Supervisor(reactor, Logger(namespace=NAMESPACE), Ledger(tmp_path / "children.json"),
                            jitter=lambda: 0)
    supervisor.addProcess("a", ["/bin/a"])
    supervisor.startService()
    pid = reactor.last().pid
    d = supervisor.stopService()
    reactor.advance(5)
    assert outcome(d) is None
    assert recorded == [("record", pid, "a", "/bin/a"), ("forget", pid)]
