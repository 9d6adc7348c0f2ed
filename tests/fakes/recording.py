"""Fakes for the recordings service: a stream manager that answers as told,
and MediaMTX's segment files built box by box."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Optional

from twisted.internet import defer

from camservice.cameras.errors import UnknownCamera

__all__ = ["FakeStreams", "segment_bytes", "write_segment"]


class FakeStreams:
    """``streamable``, ``keep_running`` and ``let_go`` as the stream
    manager has them.

    :ivar cameras: ids that can stream (others are unknown).
    :ivar next_start: if set, what the next ``keep_running`` returns (a
        Deferred, possibly never firing, or failed).
    """

    def __init__(self, clock, cameras=("camera0", "camera1")):
        self.clock = clock
        self.cameras = set(cameras)
        self.held: dict[str, str] = {}
        self.calls: list[tuple] = []
        self.next_start: Optional[defer.Deferred] = None

    def streamable(self, camera_id: str, need_connected: bool = True):
        if camera_id not in self.cameras:
            raise UnknownCamera(camera_id)
        return camera_id

    def keep_running(self, camera_id: str, reason: str) -> defer.Deferred:
        self.calls.append(("keep_running", camera_id, reason))
        if self.next_start is not None:
            d, self.next_start = self.next_start, None

            def held(result):
                self.held[camera_id] = reason
                return result

            return d.addCallback(held)
        self.held[camera_id] = reason
        return defer.succeed(self.clock.seconds())

    def let_go(self, camera_id: str, reason: str) -> defer.Deferred:
        self.calls.append(("let_go", camera_id, reason))
        self.held.pop(camera_id, None)
        return defer.succeed(None)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def segment_bytes(duration_ms: int, fragments: int = 2) -> bytes:
    """An fMP4 segment as MediaMTX writes it: ``ftyp``, ``moov`` (its
    ``mvhd`` duration 0 until the segment is closed), fragments."""
    mvhd = _box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, duration_ms) + bytes(80))
    out = _box(b"ftyp", b"iso6" + bytes(4)) + _box(b"moov", mvhd)
    for _ in range(fragments):
        out += _box(b"moof", bytes(16)) + _box(b"mdat", bytes(32))
    return out


def write_segment(folder: Path, name: str, duration_ms: int = 1000, fragments: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(segment_bytes(duration_ms, fragments))
    return path
