"""StreamHolders: one supervised FFmpeg keep-alive reader per held camera,
against a fake process reactor (no FFmpeg runs)."""
from __future__ import annotations

import pytest
from twisted.logger import LogLevel

from camservice.config import load_config
from camservice.mediamtx.holders import HOLD_QUERY, StreamHolders
from helpers.deferreds import has_no_result, outcome

NOW = 1_700_000_000.0
KILL_TIME = StreamHolders.killTime
THRESHOLD = StreamHolders.threshold
MIN_DELAY = StreamHolders.minRestartDelay
MAX_DELAY = StreamHolders.maxRestartDelay


@pytest.fixture
def reactor(process_reactor):
    return process_reactor


@pytest.fixture
def logged(log_events):
    return log_events("camservice.mediamtx.holders")


@pytest.fixture
def make_holders(write_config, reactor):
    made = []

    def make(**mediamtx):
        settings = {"rtsp_port": 18554, "ffmpeg": "/opt/ffmpeg/bin/ffmpeg"}
        settings.update(mediamtx)
        config = load_config(write_config({"mediamtx": settings}))
        holders = StreamHolders(config.mediamtx, reactor, jitter=lambda: 0)
        holders.startService()
        made.append(holders)
        return holders

    yield make
    for holders in made:
        if holders.running:
            d = holders.stopService()
            for process in reactor.alive():
                process.ignores_term = process.ignores_kill = False
            reactor.advance(KILL_TIME + 6)
            d.addErrback(lambda f: None)


@pytest.fixture
def holders(make_holders):
    return make_holders()


def readers(reactor):
    """The camera each running reader reads."""
    return sorted(p.args[p.args.index("-i") + 1] for p in reactor.alive())


def url(camera_id, port=18554, host="127.0.0.1"):
    return f"rtsp://{host}:{port}/{camera_id}?{HOLD_QUERY}"


# -- hold -------------------------------------------------------------------------

def test_hold_spawns_an_ffmpeg_that_copies_the_stream_to_nowhere(holders, reactor):
    holders.hold("camera1000")
    [process] = reactor.spawned
    assert process.executable == "/opt/ffmpeg/bin/ffmpeg"
    assert process.guarded  # killed by the kernel if camservice dies
    argv = process.args
    assert argv[0] == "/opt/ffmpeg/bin/ffmpeg"
    assert "-nostdin" in argv  # never reads the daemon's stdin
    tail = ["-rtsp_transport", "tcp", "-i", "rtsp://127.0.0.1:18554/camera1000?camservice=hold",
            "-map", "0", "-c", "copy", "-f", "null", "-"]
    assert argv[-len(tail):] == tail
    assert holders.holds("camera1000")
    assert holders.held() == ["camera1000"]


def test_the_reader_gets_only_the_environment_a_child_needs(holders, reactor, monkeypatch):
    monkeypatch.setenv("CAMSERVICE_JWT_SECRET", "s3cret")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    holders.hold("camera1000")
    env = reactor.last().env
    assert env["PATH"] == "/usr/bin:/bin"
    assert "CAMSERVICE_JWT_SECRET" not in env
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "LD_PRELOAD", "UMOCKDEV_DIR"}


@pytest.mark.parametrize(
    "mediamtx, expected",
    [
        ({"media_host": "192.168.1.10"}, url("camera7", host="192.168.1.10")),
        ({"media_host": "fd00::5"}, url("camera7", host="[fd00::5]")),
        ({"media_host": "0.0.0.0"}, url("camera7")),
        ({"mode": "external", "host": "127.0.0.2", "media_host": "192.168.1.10"}, url("camera7", host="127.0.0.2")),
    ],
)
def test_the_reader_reads_where_mediamtx_listens(make_holders, reactor, mediamtx, expected):
    holders = make_holders(**mediamtx)
    holders.hold("camera7")
    assert readers(reactor) == [expected]


def test_hold_is_idempotent(holders, reactor):
    holders.hold("camera1000")
    holders.hold("camera1000")
    holders.hold("camera1001")
    assert readers(reactor) == [url("camera1000"), url("camera1001")]
    assert len(reactor.spawned) == 2
    assert holders.held() == ["camera1000", "camera1001"]


def test_a_hold_made_before_the_service_starts_begins_with_it(write_config, reactor):
    config = load_config(write_config({"mediamtx": {"rtsp_port": 18554}}))
    holders = StreamHolders(config.mediamtx, reactor, jitter=lambda: 0)
    holders.hold("camera1000")
    assert reactor.spawned == []
    holders.startService()
    assert readers(reactor) == [url("camera1000")]
    d = holders.stopService()
    reactor.advance(1)
    assert outcome(d) is None


# -- release ----------------------------------------------------------------------

def test_release_stops_the_reader_and_fires_once_it_exited(holders, reactor):
    holders.hold("camera1000")
    holders.hold("camera1001")
    process = reactor.spawned[0]
    d = holders.release("camera1000")
    assert not holders.holds("camera1000")
    assert process.signals == ["TERM"]
    reactor.advance(process.term_delay - 0.001)
    assert has_no_result(d)
    reactor.advance(0.002)
    assert outcome(d) is None
    reactor.advance(MAX_DELAY)
    assert readers(reactor) == [url("camera1001")]  # not restarted; the other one untouched
    assert len(reactor.spawned) == 2


def test_release_kills_a_reader_that_ignores_term(holders, reactor):
    holders.hold("camera1000")
    process = reactor.last()
    process.ignores_term = True
    d = holders.release("camera1000")
    reactor.advance(KILL_TIME - 0.001)
    assert has_no_result(d)
    reactor.advance(0.002)
    assert process.signals == ["TERM", "KILL"]
    assert outcome(d) is None


def test_release_of_a_camera_not_held_fires_at_once(holders, reactor):
    assert outcome(holders.release("camera1000")) is None
    assert reactor.spawned == []


def test_holding_again_while_the_old_reader_exits_starts_a_new_one(holders, reactor):
    holders.hold("camera1000")
    old = reactor.last()
    d = holders.release("camera1000")
    holders.hold("camera1000")
    assert holders.holds("camera1000")
    reactor.advance(old.term_delay)
    assert outcome(d) is None
    reactor.advance(MIN_DELAY)
    assert len(reactor.spawned) == 2 and reactor.last().alive


# -- a reader that dies -------------------------------------------------------------

def test_a_reader_that_dies_is_restarted_with_backoff_while_held(holders, reactor, logged):
    holders.hold("camera1000")
    for delay in (MIN_DELAY, 2 * MIN_DELAY, 4 * MIN_DELAY):
        spawned = len(reactor.spawned)
        reactor.last().exit(1)  # e.g. the camera's source failed to start
        reactor.advance(delay - 0.001)
        assert len(reactor.spawned) == spawned, delay
        reactor.advance(0.002)
        assert len(reactor.spawned) == spawned + 1, delay
        assert readers(reactor) == [url("camera1000")]
    warnings = [e for e in logged if e["log_level"] is LogLevel.warn and e.get("name") == "camera1000"]
    assert len(warnings) == 3 and warnings[-1]["status"] == 1
    # a reader that ran a while is restarted at once
    reactor.advance(THRESHOLD)
    reactor.last().exit(None, 9)
    reactor.advance(0)
    assert readers(reactor) == [url("camera1000")]


def test_a_reader_released_while_running_is_not_restarted(holders, reactor):
    holders.hold("camera1000")
    outcome_d = holders.release("camera1000")
    reactor.advance(1)
    assert outcome(outcome_d) is None
    reactor.advance(MAX_DELAY * 2)
    assert reactor.alive() == [] and len(reactor.spawned) == 1


def test_a_reader_that_died_and_waits_to_restart_is_not_restarted_after_release(holders, reactor):
    holders.hold("camera1000")
    reactor.last().exit(1)  # restart due in MIN_DELAY seconds
    assert outcome(holders.release("camera1000")) is None
    try:
        assert reactor.getDelayedCalls() == []
        reactor.advance(MAX_DELAY)
        assert len(reactor.spawned) == 1
    finally:
        for call in reactor.getDelayedCalls():  # keep the reactor clean for the fixture
            call.cancel()


# -- stop ----------------------------------------------------------------------------

def test_stop_ends_every_reader_and_fires_once_they_exited(make_holders, reactor):
    holders = make_holders()
    holders.hold("camera1000")
    holders.hold("camera1001")
    reactor.spawned[1].ignores_term = True
    d = holders.stopService()
    reactor.advance(1)
    assert has_no_result(d)  # one reader ignored TERM
    reactor.advance(KILL_TIME - 1)
    assert outcome(d) is None
    assert reactor.alive() == []
    reactor.advance(MAX_DELAY)
    assert len(reactor.spawned) == 2


def test_a_reload_moving_the_rtsp_port_restarts_the_held_readers_there(make_holders, write_config, reactor):
    holders = make_holders()
    holders.hold("camera1000")
    first = reactor.last()
    new = load_config(write_config({"mediamtx": {"rtsp_port": 18600, "ffmpeg": "/usr/bin/ffmpeg"}}))
    holders.reconfigService(new)
    assert first.signals == ["TERM"]
    reactor.advance(1)  # the old reader exits; the new one starts
    assert not first.alive
    current = reactor.last()
    assert current is not first and current.alive
    assert current.args[0] == "/usr/bin/ffmpeg"
    assert any(a.startswith("rtsp://127.0.0.1:18600/camera1000?") for a in current.args)
    assert holders.held() == ["camera1000"]
    # a reload that changes nothing they use leaves them alone
    holders.reconfigService(load_config(write_config({"mediamtx": {"rtsp_port": 18600, "ffmpeg": "/usr/bin/ffmpeg",
                                                                   "log_level": "debug"}})))
    assert current.signals == []
