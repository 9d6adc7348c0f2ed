"""The ``record*`` fields of a camera's MediaMTX path.

MediaMTX v1.20.1 changes these on a live path without closing it
(``pathConfCanBeUpdated`` in ``internal/core/path_manager.go``), so
turning recording on and off never drops the path's viewers. The
controller adds them to each camera's path configuration and reconciles
them like the rest; values are written the way MediaMTX reports them
back, so a reconciliation finds nothing to change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["SEGMENT_NAME", "go_duration", "record_fields"]

#: MediaMTX's name for a session's segments (``recordPath`` must hold
#: ``%path``, and ``%s`` or the whole date and time; MediaMTX adds
#: ``.mp4``). Named by the segment's start in POSIX seconds, they sort in
#: time order whatever the time zone (a local-time name goes back an hour
#: at the end of summer time).
SEGMENT_NAME = "%path_%s-%f"


def go_duration(seconds: float) -> str:
    """``seconds`` as MediaMTX writes a duration back (``conf.Duration``:
    whole days as ``"1d"``, the rest as Go's ``time.Duration.String``,
    e.g. ``"1s"``, ``"1m0s"``, ``"500ms"``; zero is ``""``), so that the
    reconciliation compares equal values."""
    days, rest = divmod(seconds, 86400)
    out = f"{int(days)}d" if days else ""
    if rest == 0:
        return out
    if rest < 1:
        return out + f"{rest * 1000:g}ms"
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        out += f"{int(hours)}h"
    if hours or minutes:
        out += f"{int(minutes)}m"
    return out + f"{secs:g}s"


def record_fields(parts_dir: Optional[Path], part_duration: float = 1, segment_duration: float = 60) -> dict:
    """Recording on into ``parts_dir`` (fMP4 segments of
    ``segment_duration`` seconds flushed every ``part_duration`` seconds),
    or off when ``parts_dir`` is ``None``. ``recordDeleteAfter`` is always
    off: camservice owns retention."""
    fields = {"record": parts_dir is not None, "recordDeleteAfter": go_duration(0)}
    if parts_dir is not None:
        fields.update({
            "recordPath": str(Path(parts_dir) / SEGMENT_NAME),
            "recordFormat": "fmp4",
            "recordPartDuration": go_duration(part_duration),
            "recordSegmentDuration": go_duration(segment_duration),
        })
    return fields
