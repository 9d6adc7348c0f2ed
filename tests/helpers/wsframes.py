"""RFC 6455 frames for unit tests of the WebSocket server: client frames
to feed it, server frames read back, and a stand-in for the HTTP channel."""
from __future__ import annotations

import os
import struct

__all__ = ["Producer", "client_frame", "close_code", "read_frames"]


def client_frame(payload: bytes, opcode: int = 0x1, fin: bool = True, mask: bytes = None, masked: bool = True) -> bytes:
    """A client frame (masked, as RFC 6455 requires of clients)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = mask or os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Server frames (unmasked) in ``data``: ``[(opcode, payload)]``."""
    frames = []
    while data:
        opcode = data[0] & 0x0F
        n = data[1] & 0x7F
        i = 2
        if n == 126:
            n = struct.unpack("!H", data[2:4])[0]
            i = 4
        elif n == 127:
            n = struct.unpack("!Q", data[2:10])[0]
            i = 10
        frames.append((opcode, data[i : i + n]))
        data = data[i + n :]
    return frames


def close_code(frames) -> int:
    """The status code of the first close frame in ``frames``."""
    closes = [p for op, p in frames if op == 0x8]
    assert closes, frames
    return struct.unpack("!H", closes[0][:2])[0]


class Producer:
    """Stands for the HTTP channel, the transport's producer before the upgrade."""

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass
