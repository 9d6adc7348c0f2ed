"""Recording sessions and the file that keeps them across restarts.

A session is one recording of one camera: its id (which names the folder
MediaMTX writes its segments to), the file it becomes, when it began and
when it must stop. Every change of the set of sessions is written to
``<data_dir>/recordings.json`` atomically (temporary file, fsync, rename),
so after any crash the file holds the sessions as they were, whole.

What to do with a session found there at start is :func:`after_restart`'s
decision, a pure function of the session and the time.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterable, Optional

from camservice.fileutil import atomic_write

__all__ = [
    "FINALIZE",
    "FORMATS",
    "RESUME",
    "RecordingSession",
    "SessionState",
    "after_restart",
    "dump_sessions",
    "load_sessions",
]

#: format -> extension of the finished file. ``fmp4`` is fragmented MP4
#: (playable while a player downloads it), ``mp4`` has its index at the
#: front (``+faststart``), ``mkv`` is Matroska; all three are the camera's
#: H264 remuxed, never re-encoded.
FORMATS = {"fmp4": ".mp4", "mp4": ".mp4", "mkv": ".mkv"}

#: :func:`after_restart` answers
RESUME = "resume"
FINALIZE = "finalize"

_VERSION = 1


class SessionState:
    """Where a session is in its life (strings, as persisted)."""

    #: persisted, MediaMTX not yet asked to record
    STARTING = "starting"
    #: MediaMTX records it
    RECORDING = "recording"
    #: recording stopped; the file is being made from the segments
    FINALIZING = "finalizing"


@dataclass(frozen=True)
class RecordingSession:
    """One recording.

    :ivar session_id: names the folder of its segments
        (``<recordings_dir>/.parts/<session_id>/``).
    :ivar filename: the finished file's name in ``recordings_dir``.
    :ivar created: POSIX time ``start_recording`` was asked for (the
        file's name says it).
    :ivar start_time: POSIX time recording was on and the source live.
    :ivar planned_stop: POSIX time the recording stops by itself.
    :ivar end_time: POSIX time it stopped (set when finalizing).
    :ivar stop_reason: why it stopped (see the service's reasons).
    :ivar resumed: it was resumed after camservice restarted.
    """

    session_id: str
    camera_id: str
    filename: str
    format: str
    created: float
    start_time: float
    planned_stop: float
    state: str = SessionState.STARTING
    end_time: Optional[float] = None
    stop_reason: Optional[str] = None
    resumed: bool = False

    def evolve(self, **changes) -> "RecordingSession":
        return replace(self, **changes)

    def duration(self, now: float) -> float:
        """Seconds recorded so far (or in all, once stopped)."""
        end = self.end_time if self.end_time is not None else now
        return max(0.0, end - self.start_time)


_FIELDS = {f.name for f in fields(RecordingSession)}


def dump_sessions(sessions: Iterable[RecordingSession]) -> bytes:
    """The file's content for ``sessions``."""
    document = {"version": _VERSION, "sessions": [asdict(s) for s in sessions]}
    return json.dumps(document, indent=1, sort_keys=True).encode("utf-8")


def save_sessions(path: Path, sessions: Iterable[RecordingSession]) -> None:
    """Replace ``path`` with ``sessions``, atomically and durably (blocking:
    run it in a thread)."""
    atomic_write(Path(path), dump_sessions(sessions), mode=0o600)


def load_sessions(path: Path) -> list[RecordingSession]:
    """The sessions in ``path`` (none if it does not exist; blocking).

    :raises ValueError: the file is not a sessions file this version
        reads (it is left alone for a person to look at).
    """
    try:
        text = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("version") != _VERSION:
        raise ValueError(f"{path} is not a version {_VERSION} recordings file")
    sessions = []
    for entry in document.get("sessions", []):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: a session is not an object")
        sessions.append(RecordingSession(**{k: v for k, v in entry.items() if k in _FIELDS}))
    return sessions


def after_restart(session: RecordingSession, now: float, camera_available: bool) -> str:
    """What to do at start with ``session``, found unfinished.

    It is resumed (:data:`RESUME`) only if it was recording, its planned
    stop is still ahead and its camera can stream; otherwise it is
    finalized (:data:`FINALIZE`) from the segments already on disk.
    """
    if session.state == SessionState.RECORDING and now < session.planned_stop and camera_available:
        return RESUME
    return FINALIZE
