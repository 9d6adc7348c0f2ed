"""Recording sessions on disk, the decision taken after a restart, and the
pieces of finalizing: which segments, when MediaMTX has closed one, the
FFmpeg command, and publishing the file without overwriting."""
from __future__ import annotations

import os

import pytest

from camservice.media import finalize
from camservice.media.sessions import (
    FINALIZE,
    RESUME,
    RecordingSession,
    SessionState,
    after_restart,
    load_sessions,
    save_sessions,
)
from fakes.recording import segment_bytes, write_segment

NOW = 1_700_000_000.0


def _session(**kw) -> RecordingSession:
    values = dict(session_id="abc", camera_id="camera0", filename="camera0_2023-11-14_22-13-20.mp4", format="mp4",
                  created=NOW, start_time=NOW, planned_stop=NOW + 60, state=SessionState.RECORDING)
    values.update(kw)
    return RecordingSession(**values)


def test_sessions_round_trip_through_the_file(tmp_path):
    path = tmp_path / "recordings.json"
    sessions = [_session(), _session(session_id="def", camera_id="camera1", state=SessionState.FINALIZING,
                                     end_time=NOW + 5, stop_reason="requested")]
    save_sessions(path, sessions)
    assert load_sessions(path) == sessions
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [n for n in os.listdir(tmp_path)] == ["recordings.json"]  # no temporary left


def test_no_file_is_no_sessions_and_another_version_is_refused(tmp_path):
    assert load_sessions(tmp_path / "missing.json") == []
    (tmp_path / "future.json").write_text('{"version": 2, "sessions": []}')
    with pytest.raises(ValueError):
        load_sessions(tmp_path / "future.json")


@pytest.mark.parametrize("state,now,available,decision", [
    (SessionState.RECORDING, NOW + 59.9, True, RESUME),
    (SessionState.RECORDING, NOW + 60.0, True, FINALIZE),
    (SessionState.RECORDING, NOW + 10, False, FINALIZE),
    (SessionState.STARTING, NOW + 10, True, FINALIZE),
    (SessionState.FINALIZING, NOW + 10, True, FINALIZE),
])
def test_what_a_restart_does_with_a_session(state, now, available, decision):
    assert after_restart(_session(state=state), now, available) == decision


def test_a_segment_is_closed_once_its_duration_is_written(tmp_path):
    open_one = write_segment(tmp_path, "a.mp4", duration_ms=0)
    closed = write_segment(tmp_path, "b.mp4", duration_ms=60_000)
    assert not finalize.segment_closed(open_one)
    assert finalize.segment_closed(closed)
    assert not finalize.segment_closed(tmp_path / "missing.mp4")


def test_segments_are_listed_oldest_first_without_those_holding_no_video(tmp_path):
    write_segment(tmp_path, "camera0_2023-11-14_22-14-20-000000.mp4")
    write_segment(tmp_path, "camera0_2023-11-14_22-13-20-000000.mp4")
    write_segment(tmp_path, "camera0_2023-11-14_22-15-20-000000.mp4", fragments=0)  # header only
    (tmp_path / "camera0_2023-11-14_22-16-20-000000.mp4").write_bytes(segment_bytes(0)[:20])  # torn
    (tmp_path / ".segments.ffconcat").write_text("x")
    names = [p.name for p in finalize.list_segments(tmp_path)]
    assert names == ["camera0_2023-11-14_22-13-20-000000.mp4", "camera0_2023-11-14_22-14-20-000000.mp4"]
    assert finalize.list_segments(tmp_path / "missing") == []


def test_the_concat_script_quotes_names(tmp_path):
    script = finalize.concat_list([tmp_path / "it's.mp4"])
    assert script.splitlines() == ["ffconcat version 1.0", f"file '{tmp_path}/it'\\''s.mp4'"]


def test_unknown_formats_have_no_command(tmp_path):
    with pytest.raises(ValueError):
        finalize.ffmpeg_argv("ffmpeg", tmp_path / "l", tmp_path / "o", "avi")


def test_publishing_never_replaces_a_file(tmp_path):
    temporary = tmp_path / ".x.mp4.partial"
    temporary.write_bytes(b"new")
    (tmp_path / "x.mp4").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        finalize.publish_file(temporary, tmp_path / "x.mp4")
    assert (tmp_path / "x.mp4").read_bytes() == b"old"
    assert finalize.publish_file(temporary, tmp_path / "y.mp4") == 3
    assert not temporary.exists() and (tmp_path / "y.mp4").read_bytes() == b"new"
