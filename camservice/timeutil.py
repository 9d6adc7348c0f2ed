"""Timestamps as clients see them: ISO 8601, UTC, ``Z``."""
from __future__ import annotations

import functools
import time

__all__ = ["iso_timestamp"]


@functools.lru_cache(maxsize=8)
def _second(whole: int) -> str:
    # Formatting a struct_time costs microseconds; the hot path (one
    # timestamp per reply) reuses the text of the current second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def iso_timestamp(seconds: float, millis: bool = False) -> str:
    """``2025-01-15T14:30:00Z`` (or ``...:00.123Z`` with ``millis``) for
    POSIX time ``seconds``."""
    whole = int(seconds)
    if millis:
        return f"{_second(whole)}.{int((seconds - whole) * 1000):03d}Z"
    return _second(whole) + "Z"
