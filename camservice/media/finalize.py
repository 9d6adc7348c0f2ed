"""The files of a recording session: its name and segments folder, and
joining the segments into one finished file.

MediaMTX (``internal/recorder``, format fmp4) writes each segment under
its final name, ``<recordPath with the segment's start time>.mp4``
(camservice names them ``<camera>_<POSIX seconds>-<microseconds>.mp4``,
so that names sort in time order): an
``ftyp`` and a ``moov`` box, then one ``moof``+``mdat`` fragment per part
(at most ``recordPartDuration`` of video, flushed as it completes). When
the segment closes (``recordSegmentDuration`` reached, record turned off,
the path closed) it writes the segment's duration into ``moov/mvhd``; a
segment whose ``mvhd`` duration is still 0 is open, or was cut short by a
crash (then it holds every part flushed before it: at most one part is
lost).

Finalizing joins the segments in time order with FFmpeg's concat demuxer
and remuxes them without re-encoding (``-c copy``) into a temporary
dot-name beside the finished file, fsyncs it and links it into place
(never over an existing file), fsyncs the folder, then removes the
segments. The blocking steps here run in a thread; FFmpeg is a child
process.
"""
from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path
from typing import Optional

from camservice.fileutil import fsync_dir, fsync_file
from camservice.media.sessions import FORMATS

__all__ = [
    "concat_list",
    "ffmpeg_argv",
    "last_write",
    "list_segments",
    "prepare_session",
    "publish_file",
    "remove_file",
    "remove_orphans",
    "remove_parts",
    "segment_closed",
    "temporary_name",
]

_SEGMENT_SUFFIX = ".mp4"


def _boxes(data: bytes, start: int = 0, end: Optional[int] = None):
    """``(type, offset, size)`` of the boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1 and offset + 16 <= end:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        if size < 8:
            return
        yield kind, offset, size
        offset += size


def _head(path: Path, size: int = 64 * 1024) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def segment_closed(path: Path) -> bool:
    """Whether MediaMTX has closed the segment (its ``mvhd`` duration is
    written). Blocking."""
    try:
        data = _head(path)
    except OSError:
        return False
    for kind, offset, size in _boxes(data):
        if kind == b"moov":
            for inner, at, _ in _boxes(data, offset + 8, min(len(data), offset + size)):
                if inner == b"mvhd":
                    version = data[at + 8]
                    field = at + 8 + 4 + (16 if version == 1 else 8) + 4
                    fmt = ">Q" if version == 1 else ">I"
                    width = 8 if version == 1 else 4
                    if field + width > len(data):
                        return False
                    return struct.unpack(fmt, data[field:field + width])[0] > 0
    return False


def _has_media(path: Path) -> bool:
    """Whether a segment has its header and at least one fragment (one cut
    off by a crash while its header was written has none)."""
    try:
        data = _head(path)
    except OSError:
        return False
    kinds = [kind for kind, _offset, _size in _boxes(data)]
    return kinds[:2] == [b"ftyp", b"moov"] and b"moof" in kinds


def list_segments(parts_dir: Path) -> list[Path]:
    """The session's segments that hold video, oldest first (their names
    are the time they began, in POSIX seconds). Blocking."""
    try:
        names = sorted(n for n in os.listdir(parts_dir) if n.endswith(_SEGMENT_SUFFIX) and not n.startswith("."))
    except FileNotFoundError:
        return []
    return [parts_dir / n for n in names if _has_media(parts_dir / n)]


def concat_list(segments: list[Path]) -> str:
    """An ``ffconcat`` script naming ``segments`` (absolute paths, quoted
    for the demuxer)."""
    lines = ["ffconcat version 1.0"]
    for segment in segments:
        quoted = str(Path(segment).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def temporary_name(filename: str) -> str:
    """The dot-name the file is written under until it is complete (file
    lists and downloads skip names that start with a dot)."""
    return f".{filename}.partial"


def ffmpeg_argv(ffmpeg: str, list_path: Path, output: Path, fmt: str) -> list[str]:
    """FFmpeg joining the segments in ``list_path`` into ``output`` as
    ``fmt``, streams copied.

    :raises ValueError: for a format not in :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown recording format {fmt!r}")
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "concat", "-safe", "0", "-i", str(list_path), "-map", "0", "-c", "copy"]
    if fmt == "mp4":
        argv += ["-movflags", "+faststart", "-f", "mp4"]
    elif fmt == "fmp4":
        argv += ["-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"]
    else:
        argv += ["-f", "matroska"]
    return argv + [str(output)]



def publish_file(temporary: Path, final: Path) -> int:
    """Make the complete ``temporary`` file visible as ``final``: fsync,
    link into place (an existing ``final`` is never replaced), drop the
    temporary name, fsync the folder. Blocking.

    :returns: the file's size in bytes.
    :raises FileExistsError: ``final`` exists.
    """
    fsync_file(temporary)
    os.link(temporary, final)
    os.unlink(temporary)
    fsync_dir(final.parent)
    return final.stat().st_size


def remove_parts(parts_dir: Path) -> None:
    """Remove a session's segments folder (gone already is fine). Blocking."""
    shutil.rmtree(parts_dir, ignore_errors=True)
    try:
        fsync_dir(parts_dir.parent)
    except FileNotFoundError:
        pass


def prepare_session(directory: Path, parts: Path, camera_id: str, now: float, fmt: str, taken: set) -> str:
    """A free file name for a recording of ``camera_id`` begun at ``now``
    (``camera0_2025-01-15_14-30-00.mp4`` in UTC, then ``..._2.mp4`` ...;
    ``taken``: names of other sessions), and the session's segments folder
    made. Blocking."""
    stem = f"{camera_id}_{time.strftime('%Y-%m-%d_%H-%M-%S', time.gmtime(now))}"
    extension = FORMATS[fmt]
    parts.mkdir(parents=True, exist_ok=True, mode=0o750)
    n = 1
    while True:
        name = f"{stem}{extension}" if n == 1 else f"{stem}_{n}{extension}"
        if name not in taken and not (directory / name).exists():
            return name
        n += 1


def remove_file(path: Path) -> None:
    """Remove ``path`` (gone already is fine). Blocking."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def remove_orphans(parts_root: Path, sessions: set) -> list[str]:
    """Remove the segment folders of no known session (MediaMTX wrote on
    after a stop it could not be told of); the names removed. Blocking."""
    try:
        names = sorted(os.listdir(parts_root))
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        if name not in sessions and (parts_root / name).is_dir():
            remove_parts(parts_root / name)
            removed.append(name)
    return removed


def last_write(parts: Path) -> Optional[float]:
    """POSIX time the newest segment was last written, if any. Blocking."""
    times = [p.stat().st_mtime for p in list_segments(parts)]
    return max(times) if times else None
