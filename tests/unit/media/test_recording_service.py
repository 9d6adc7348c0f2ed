"""The recordings service on a fake clock with a fake process reactor:
starting and stopping, the duration timer, unplugs, storage, failures of
each step, shutdown, and what happens to sessions found after a crash."""
from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from camservice.cameras.errors import UnknownCamera
from camservice.config.model import MediaConfig
from camservice.events import EventBus
from camservice.media.errors import AlreadyRecording, CaptureFailed, NotRecording, SourceDidNotStart, StorageCritical
from camservice.media.record_fields import go_duration
from camservice.media.recordings import SEGMENT_CLOSE_WAIT, SHUTDOWN_FINALIZE_TIMEOUT, RecordingService
from camservice.media.sessions import RecordingSession, SessionState, load_sessions, save_sessions
from camservice.mediamtx.errors import MediaMTXUnavailable
from fakes.recording import FakeStreams, write_segment
from helpers.deferreds import has_no_result, outcome


def result_of(d):
    result = outcome(d)
    assert not isinstance(result, Failure), result
    return result


def failure_of(d):
    result = outcome(d)
    assert isinstance(result, Failure), f"fired with {result!r}"
    return result


def no_result(d):
    assert has_no_result(d), "fired already"


class Rig:
    def __init__(self, tmp_path: Path, reactor):
        self.reactor = reactor
        self.recordings = tmp_path / "recordings"
        self.state = tmp_path / "recordings.json"
        self.streams = FakeStreams(reactor)
        self.bus = EventBus()
        self.events = []
        self.bus.subscribe(self.events.append)
        self.applied: list[dict] = []
        self.mediamtx_down = False
        self.up = True
        self.storage = None
        self.files = None
        self.ids = iter(f"s{n}" for n in range(1, 100))
        self.service: RecordingService = None

    def apply_paths(self):
        if self.mediamtx_down:
            return defer.fail(MediaMTXUnavailable("MediaMTX is unreachable"))
        self.applied.append({c: self.service.path_fields(c) for c in sorted(self.streams.cameras)})
        return defer.succeed([])

    def make(self, start: bool = True, **config) -> RecordingService:
        self.service = RecordingService(
            MediaConfig(recordings_dir=self.recordings, **config),
            self.state,
            self.streams,
            self.apply_paths,
            lambda: self.up,
            self.bus,
            self.reactor,
            lambda f, *a, **kw: defer.maybeDeferred(f, *a, **kw),
            ffmpeg="ffmpeg",
            storage=self.storage,
            files=self.files,
            new_id=lambda: next(self.ids),
        )
        if start:
            result_of(self.service.startService())
        return self.service

    def parts(self, session_id: str = "s1") -> Path:
        return self.recordings / ".parts" / session_id

    def segments(self, session_id: str = "s1", n: int = 2, closed: bool = True) -> None:
        for i in range(n):
            write_segment(self.parts(session_id), f"camera0_{1_700_000_000 + i}-000000.mp4",
                          duration_ms=1000 if closed or i < n - 1 else 0)

    def ffmpeg(self):
        alive = self.reactor.alive()
        assert alive, "no FFmpeg runs"
        assert alive[0].executable == "ffmpeg"
        return alive[0]

    def ffmpeg_finishes(self, code: int = 0, stderr: bytes = b"") -> None:
        process = self.ffmpeg()
        if code == 0:
            Path(process.args[-1]).write_bytes(b"the finished file")
        elif stderr:
            process.stderr(stderr)
        process.exit(code)

    def topics(self) -> list[tuple]:
        return [(e.topic, e.device, e.data["status"], e.data.get("reason"))
                for e in self.events if e.topic.startswith("recording.")]

    def persisted(self) -> list[RecordingSession]:
        return load_sessions(self.state)


@pytest.fixture
def rig(tmp_path, process_reactor):
    return Rig(tmp_path, process_reactor)


def _stop_all(rig):
    """Stop the service (finishing any FFmpeg it runs)."""
    d = rig.service.stopService()
    for _ in range(100):
        if d.called:
            break
        if rig.reactor.alive():
            rig.ffmpeg_finishes()
        else:
            rig.reactor.advance(0.1)
    result_of(d)


# -- start ---------------------------------------------------------------


def test_start_holds_the_stream_turns_recording_on_and_persists_the_session(rig):
    service = rig.make()
    status = result_of(service.start("camera0", fmt="mp4"))
    assert status["status"] == "RECORDING" and status["filename"] == "camera0_2023-11-14_22-13-20.mp4"
    assert status["format"] == "mp4" and status["start_time"] == "2023-11-14T22:13:20Z"
    assert rig.streams.held == {"camera0": "recording"}
    fields = rig.applied[-1]["camera0"]
    assert fields == {
        "record": True,
        "recordDeleteAfter": "",
        "recordPath": str(rig.parts("s1") / "%path_%s-%f"),
        "recordFormat": "fmp4",
        "recordPartDuration": "1s",
        "recordSegmentDuration": "1m0s",
    }
    assert rig.applied[-1]["camera1"] == {"record": False, "recordDeleteAfter": ""}
    assert rig.parts("s1").is_dir()
    (session,) = rig.persisted()
    assert (session.camera_id, session.state, session.format) == ("camera0", SessionState.RECORDING, "mp4")
    assert session.planned_stop == rig.reactor.seconds() + 86400
    assert rig.topics() == [("recording.start", "camera0", "STARTED", None)]
    assert service.status("camera0")["filename"] == status["filename"]
    assert service.metrics()["active_recordings"] == 1
    _stop_all(rig)


def test_prometheus_counts_recordings(rig):
    from camservice.metrics import Metrics

    metrics = Metrics()
    rig.make()
    rig.service._metrics = metrics
    result_of(rig.service.start("camera0"))
    assert metrics.registry.get_sample_value("camservice_recordings_active") == 1
    rig.segments(n=1)
    d = rig.service.stop("camera0")
    rig.ffmpeg_finishes()
    result_of(d)
    assert metrics.registry.get_sample_value("camservice_recordings_active") == 0
    assert metrics.registry.get_sample_value("camservice_recordings_finished_total", {"outcome": "stopped"}) == 1
    assert metrics.registry.get_sample_value("camservice_recording_finalize_seconds_count") == 1


def test_the_default_format_is_the_configured_one(rig):
    service = rig.make(recording_format="mkv")
    assert result_of(service.start("camera0"))["filename"].endswith(".mkv")
    _stop_all(rig)


def test_a_second_start_on_one_camera_is_refused_other_cameras_record_too(rig):
    service = rig.make()
    first = result_of(service.start("camera0"))
    assert failure_of(service.start("camera0")).check(AlreadyRecording)
    second = result_of(service.start("camera1"))
    assert first["filename"] != second["filename"]
    assert set(service.recording()) == {"camera0", "camera1"}
    _stop_all(rig)


def test_a_name_taken_gets_a_number(rig):
    rig.recordings.mkdir()
    (rig.recordings / "camera0_2023-11-14_22-13-20.mp4").write_bytes(b"older")
    service = rig.make()
    assert result_of(service.start("camera0"))["filename"] == "camera0_2023-11-14_22-13-20_2.mp4"
    _stop_all(rig)


def test_an_unknown_camera_is_refused_before_anything_is_written(rig):
    service = rig.make()
    assert failure_of(service.start("camera7")).check(UnknownCamera)
    assert not rig.state.exists() and rig.applied == []


def test_a_source_that_does_not_start_leaves_nothing_recording(rig):
    service = rig.make()
    rig.streams.next_start = defer.fail(SourceDidNotStart("camera0", "ffmpeg", 10))
    assert failure_of(service.start("camera0")).check(SourceDidNotStart)
    assert rig.applied[0]["camera0"]["record"] is True
    assert rig.applied[-1]["camera0"]["record"] is False
    assert ("let_go", "camera0", "recording") in rig.streams.calls
    assert not rig.parts("s1").exists()
    assert rig.persisted() == []
    assert service.status("camera0") is None and rig.topics() == []
    # and it can be tried again
    assert result_of(service.start("camera0"))["status"] == "RECORDING"
    _stop_all(rig)


def test_mediamtx_unreachable_at_start_is_its_error(rig):
    service = rig.make()
    rig.mediamtx_down = True
    assert failure_of(service.start("camera0")).check(MediaMTXUnavailable)
    assert rig.persisted() == [] and rig.streams.held == {}


def test_a_start_waiting_for_its_source_holds_a_second_start_back(rig):
    service = rig.make()
    waiting = defer.Deferred()
    rig.streams.next_start = waiting
    first = service.start("camera0")
    no_result(first)
    second = service.start("camera0")
    no_result(second)  # serialised behind the first
    waiting.callback(rig.reactor.seconds())
    assert result_of(first)["status"] == "RECORDING"
    assert failure_of(second).check(AlreadyRecording)
    _stop_all(rig)


# -- stop and finalize ---------------------------------------------------


def test_stop_turns_recording_off_joins_the_segments_and_publishes_the_file(rig):
    service = rig.make()
    started = result_of(service.start("camera0", fmt="mp4"))
    rig.reactor.advance(3.5)
    rig.segments(n=3)
    d = service.stop("camera0")
    no_result(d)
    assert rig.applied[-1]["camera0"] == {"record": False, "recordDeleteAfter": ""}
    assert rig.streams.held == {}
    assert rig.persisted()[0].state == SessionState.FINALIZING
    process = rig.ffmpeg()
    temporary = rig.recordings / ".camera0_2023-11-14_22-13-20.mp4.partial"
    assert process.args[-1] == str(temporary)
    assert process.args[process.args.index("-c") + 1] == "copy"
    assert "+faststart" in process.args and process.guarded
    script = Path(process.args[process.args.index("-i") + 1]).read_text()
    assert script.count("file '") == 3 and script.index("1700000000-") < script.index("1700000002-")
    rig.ffmpeg_finishes()
    stopped = result_of(d)
    assert stopped == {
        "device": "camera0",
        "filename": started["filename"],
        "status": "STOPPED",
        "start_time": "2023-11-14T22:13:20Z",
        "end_time": "2023-11-14T22:13:23Z",
        "duration": 3.5,
        "file_size": len(b"the finished file"),
        "format": "mp4",
    }
    assert (rig.recordings / started["filename"]).read_bytes() == b"the finished file"
    assert not temporary.exists() and not rig.parts("s1").exists()
    assert rig.persisted() == []
    assert rig.topics()[-1] == ("recording.stop", "camera0", "STOPPED", "requested")
    assert rig.events[-1].data["filename"] == started["filename"] and rig.events[-1].data["duration"] == 3.5
    assert failure_of(service.stop("camera0")).check(NotRecording)
    assert service.metrics()["finalized"] == 1


@pytest.mark.parametrize("fmt,flags", [("fmp4", ["-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                                                 "-f", "mp4"]),
                                       ("mkv", ["-f", "matroska"])])
def test_each_format_is_a_remux(rig, fmt, flags):
    service = rig.make()
    result_of(service.start("camera0", fmt=fmt))
    rig.segments(n=1)
    d = service.stop("camera0")
    args = rig.ffmpeg().args
    assert args[-1 - len(flags):-1] == flags and "-c" in args and "copy" in args
    rig.ffmpeg_finishes()
    assert result_of(d)["format"] == fmt


def test_the_file_index_is_told_of_each_file(rig):
    told = []

    class Files:
        def added(self, kind, name, camera_id):
            told.append((kind, name, camera_id))
            return defer.succeed(None)

    rig.files = Files()
    service = rig.make()
    name = result_of(service.start("camera0"))["filename"]
    rig.segments(n=1)
    d = service.stop("camera0")
    rig.ffmpeg_finishes()
    result_of(d)
    assert told == [("recordings", name, "camera0")]


def test_an_ffmpeg_failure_is_failed_keeps_the_segments_and_is_retried_at_the_next_start(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=2)
    d = service.stop("camera0")
    rig.ffmpeg_finishes(code=1, stderr=b"No space left on device\n")
    failure = failure_of(d)
    assert failure.check(CaptureFailed) and "No space left on device" in failure.value.detail
    assert rig.topics()[-1] == ("recording.error", "camera0", "FAILED", "requested")
    assert "No space left" in rig.events[-1].data["detail"]
    assert len(list(rig.parts("s1").glob("*.mp4"))) == 2
    assert not list(rig.recordings.glob(".*.partial"))
    assert [s.state for s in rig.persisted()] == [SessionState.FINALIZING]
    # a new recording of the camera is not held up by it
    assert result_of(service.start("camera0"))["status"] == "RECORDING"
    _stop_all(rig)

    again = rig.make()
    assert [r["action"] for r in again.recovered] == ["finalized"]
    rig.ffmpeg_finishes()
    assert rig.persisted() == []
    assert rig.topics()[-1] == ("recording.stop", "camera0", "STOPPED", "requested")


def test_a_file_that_failed_is_made_again_when_the_storage_recovers(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=1)
    d = service.stop("camera0")
    rig.bus.publish("system.health", component="storage", status="critical", detail="100% used")
    rig.ffmpeg_finishes(code=1, stderr=b"No space left on device\n")
    failure_of(d)
    assert rig.reactor.alive() == []
    rig.bus.publish("system.health", component="storage", status="warning", detail="85% used")
    rig.ffmpeg_finishes()
    assert rig.topics()[-1] == ("recording.stop", "camera0", "STOPPED", "requested")
    assert rig.persisted() == [] and service.metrics()["finalizing"] == 0
    rig.bus.publish("system.health", component="storage", status="ok")
    assert rig.reactor.alive() == []


def test_a_recording_without_video_fails_and_leaves_nothing(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    failure = failure_of(service.stop("camera0"))
    assert failure.check(CaptureFailed) and failure.value.detail == "no video was recorded"
    assert not rig.parts("s1").exists() and rig.persisted() == []
    assert rig.topics()[-1][2] == "FAILED"


def test_a_segment_mediamtx_has_not_closed_yet_is_waited_for(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=2, closed=False)
    d = service.stop("camera0")
    assert rig.reactor.alive() == []
    rig.reactor.advance(0.5)
    assert rig.reactor.alive() == []
    rig.segments(n=2, closed=True)  # MediaMTX wrote its duration
    rig.reactor.advance(0.05)
    rig.ffmpeg_finishes()
    assert result_of(d)["status"] == "STOPPED"


def test_a_segment_never_closed_is_joined_as_it_is_after_the_wait(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=1, closed=False)
    d = service.stop("camera0")
    rig.reactor.advance(SEGMENT_CLOSE_WAIT - 0.1)
    assert rig.reactor.alive() == []
    rig.reactor.advance(0.2)
    rig.ffmpeg_finishes()
    assert result_of(d)["status"] == "STOPPED"


def test_with_mediamtx_down_the_segments_are_joined_at_once(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=1, closed=False)  # cut short by the crash
    rig.up = False
    rig.mediamtx_down = True
    d = service.stop("camera0")
    rig.ffmpeg_finishes()
    assert result_of(d)["status"] == "STOPPED"


# -- what stops a recording by itself -----------------------------------


def test_the_duration_timer_stops_it(rig):
    service = rig.make()
    result_of(service.start("camera0", duration=10))
    rig.segments(n=1)
    rig.reactor.advance(9.9)
    assert service.status("camera0") is not None and rig.reactor.alive() == []
    rig.reactor.advance(0.2)
    rig.ffmpeg_finishes()
    assert service.status("camera0") is None
    assert rig.topics()[-1] == ("recording.stop", "camera0", "STOPPED", "duration_reached")
    assert rig.events[-1].data["duration"] == 10.0


def test_a_duration_beyond_the_cap_is_capped(rig):
    service = rig.make(max_recording_duration=60)
    result_of(service.start("camera0", duration=3600))
    assert rig.persisted()[0].planned_stop == rig.reactor.seconds() + 60
    _stop_all(rig)


def test_stop_cancels_the_timer(rig):
    service = rig.make()
    result_of(service.start("camera0", duration=10))
    rig.segments(n=1)
    d = service.stop("camera0")
    rig.ffmpeg_finishes()
    result_of(d)
    assert rig.reactor.getDelayedCalls() == []


def test_a_camera_that_disconnects_is_finalized_with_the_reason(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=1)
    rig.bus.publish("camera.disconnected", "camera0")
    rig.ffmpeg_finishes()
    assert rig.topics()[-1] == ("recording.stop", "camera0", "STOPPED", "camera_disconnected")
    assert service.status("camera0") is None


def test_storage_critical_stops_every_recording_and_refuses_new_ones_until_it_is_not(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    result_of(service.start("camera1"))
    rig.segments("s1", n=1)
    rig.segments("s2", n=1)
    rig.bus.publish("system.health", component="storage", status="critical", detail="97% used")
    rig.ffmpeg_finishes()
    rig.ffmpeg_finishes()
    assert [t[3] for t in rig.topics()[-2:]] == ["storage_critical", "storage_critical"]
    refused = failure_of(service.start("camera0"))
    assert refused.check(StorageCritical) and refused.value.detail == "97% used"
    rig.bus.publish("system.health", component="storage", status="ok")
    assert result_of(service.start("camera0"))["status"] == "RECORDING"
    _stop_all(rig)


def test_the_storage_check_is_asked_before_a_start(rig):
    class Storage:
        def check_writable(self):
            return defer.fail(StorageCritical("120 MB free"))

    rig.storage = Storage()
    service = rig.make()
    assert failure_of(service.start("camera0")).check(StorageCritical)
    assert rig.persisted() == [] and rig.streams.held == {}


def test_a_full_disk_at_start_is_storage_critical_and_leaves_nothing(rig, monkeypatch):
    import errno

    from camservice.media import recordings

    service = rig.make()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recordings, "save_sessions", full)
    failure = failure_of(service.start("camera0"))
    assert failure.check(StorageCritical) and "No space left" in failure.value.detail
    assert service.status("camera0") is None and rig.streams.held == {}
    assert not rig.parts("s1").exists()


def test_a_reload_changing_part_or_segment_length_is_applied_to_live_recordings(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    applied = len(rig.applied)
    new = type("New", (), {"media": MediaConfig(recordings_dir=rig.recordings, segment_duration=300,
                                                recording_format="mkv")})()
    result_of(service.reconfigService(new))
    assert rig.applied[-1]["camera0"]["recordSegmentDuration"] == "5m0s" and len(rig.applied) == applied + 1
    assert "media.recording_format" in service.reloadable_keys
    assert result_of(service.start("camera1"))["filename"].endswith(".mkv")
    _stop_all(rig)


# -- shutdown ------------------------------------------------------------


def test_shutdown_finalizes_every_recording(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=1)
    d = service.stopService()
    no_result(d)
    rig.ffmpeg_finishes()
    result_of(d)
    assert rig.topics()[-1] == ("recording.stop", "camera0", "STOPPED", "shutdown")
    assert rig.persisted() == []


def test_a_shutdown_that_cannot_finalize_in_time_leaves_the_session_for_the_next_start(rig):
    service = rig.make()
    result_of(service.start("camera0"))
    rig.segments(n=1)
    d = service.stopService()
    process = rig.ffmpeg()
    process.ignores_term = True
    rig.reactor.advance(SHUTDOWN_FINALIZE_TIMEOUT + 0.1)
    rig.reactor.advance(5)  # FFmpeg is killed
    result_of(d)
    assert not process.alive
    assert [s.state for s in rig.persisted()] == [SessionState.FINALIZING]
    assert not list(rig.recordings.glob(".*.partial"))


# -- after a crash -------------------------------------------------------


def _crashed(rig, state=SessionState.RECORDING, planned_in=100.0, camera="camera0", **kw):
    now = rig.reactor.seconds()
    session = RecordingSession("old", camera, f"{camera}_2023-11-14_22-00-00.mp4", "mp4", created=now - 60,
                               start_time=now - 60, planned_stop=now + planned_in, state=state, **kw)
    save_sessions(rig.state, [session])
    rig.segments("old", n=2, closed=False)
    return session


def test_a_session_still_due_is_resumed_with_its_timer_from_the_planned_stop(rig):
    session = _crashed(rig, planned_in=100.0)
    service = rig.make()
    status = service.status("camera0")
    assert status["resumed"] is True and status["filename"] == session.filename
    assert status["start_time"] == "2023-11-14T22:12:20Z"
    assert rig.streams.held == {"camera0": "recording"}
    assert rig.applied[-1]["camera0"]["recordPath"].startswith(str(rig.parts("old")))
    assert rig.topics() == [("recording.start", "camera0", "STARTED", "resumed_after_restart")]
    assert [r["action"] for r in service.metrics()["recovered"]] == ["resumed"]
    assert rig.persisted()[0].resumed is True
    rig.reactor.advance(99.9)
    assert rig.reactor.alive() == []
    rig.reactor.advance(0.2)
    rig.segments("old", n=3, closed=True)
    rig.reactor.advance(0.1)
    rig.ffmpeg_finishes()
    assert rig.topics()[-1] == ("recording.stop", "camera0", "STOPPED", "duration_reached")
    assert rig.events[-1].data["duration"] == 160.0


def test_a_resumed_session_waits_for_mediamtx_to_hold_its_stream(rig):
    _crashed(rig)
    rig.streams.next_start = defer.fail(MediaMTXUnavailable("refused"))
    service = rig.make()
    assert rig.streams.held == {}
    assert service.status("camera0")["resumed"] is True
    assert rig.topics() == []  # announced once it records again
    rig.reactor.advance(1.0)
    assert rig.streams.held == {"camera0": "recording"}
    assert rig.topics() == [("recording.start", "camera0", "STARTED", "resumed_after_restart")]
    _stop_all(rig)


def test_a_resumed_session_stopped_while_its_hold_is_taken_lets_the_stream_go(rig):
    _crashed(rig)
    holding = defer.Deferred()
    rig.streams.next_start = holding
    service = rig.make()
    d = service.stop("camera0")
    for _ in range(40):
        rig.reactor.advance(0.1)  # the open segment is waited for
    rig.ffmpeg_finishes()
    assert result_of(d)["status"] == "STOPPED"
    holding.callback(rig.reactor.seconds())
    assert rig.streams.held == {}
    assert rig.streams.calls[-1] == ("let_go", "camera0", "recording")


def test_a_session_past_its_planned_stop_is_finalized(rig):
    session = _crashed(rig, planned_in=-5.0)
    service = rig.make()
    assert service.status("camera0") is None
    rig.ffmpeg_finishes()
    assert rig.topics() == [("recording.stop", "camera0", "STOPPED", "finalized_after_restart")]
    assert (rig.recordings / session.filename).exists() and rig.persisted() == []
    assert [r["action"] for r in service.metrics()["recovered"]] == ["finalized"]


def test_a_session_whose_camera_is_gone_is_finalized(rig):
    _crashed(rig, camera="camera5")
    service = rig.make()
    rig.ffmpeg_finishes()
    assert rig.topics() == [("recording.stop", "camera5", "STOPPED", "finalized_after_restart")]
    assert service.metrics()["active_recordings"] == 0


def test_a_session_that_was_being_finalized_is_finalized_with_its_own_reason(rig):
    _crashed(rig, state=SessionState.FINALIZING, end_time=rig.reactor.seconds() - 1, stop_reason="requested")
    rig.make()
    rig.ffmpeg_finishes()
    assert rig.topics() == [("recording.stop", "camera0", "STOPPED", "requested")]


def test_a_file_made_before_the_crash_is_not_made_again(rig):
    session = _crashed(rig, state=SessionState.FINALIZING, end_time=rig.reactor.seconds() - 1)
    rig.recordings.mkdir(exist_ok=True)
    (rig.recordings / session.filename).write_bytes(b"done before the crash")
    rig.make()
    assert rig.reactor.spawned == []
    assert not rig.parts("old").exists() and rig.persisted() == []
    assert rig.topics()[-1][:3] == ("recording.stop", "camera0", "STOPPED")


def test_an_unreadable_sessions_file_is_left_alone_and_so_are_the_segments(rig):
    rig.state.write_text("{not json")
    rig.segments("old", n=1)
    service = rig.make()
    assert service.metrics()["recovered"] == []
    assert rig.state.read_text() == "{not json"
    assert rig.parts("old").exists()


def test_segments_of_no_session_are_removed_at_start(rig):
    _crashed(rig)
    rig.segments("stray", n=1)
    rig.make()
    assert not rig.parts("stray").exists() and rig.parts("old").exists()
    _stop_all(rig)


# -- helpers -------------------------------------------------------------


@pytest.mark.parametrize("seconds,text", [(0, ""), (86400, "1d"), (90000, "1d1h0m0s"), (0.5, "500ms"), (1, "1s"), (1.5, "1.5s"), (60, "1m0s"),
                                          (90, "1m30s"), (3600, "1h0m0s"), (3661, "1h1m1s")])
def test_go_durations(seconds, text):
    assert go_duration(seconds) == text
