"""Retries with exponential backoff and jitter for idempotent calls.

The delay before retry *n* (from 0) is
``min(initial * factor**n, max_delay) + jitter()``, the formula of
``twisted.application.internet.backoffPolicy``; waits use ``deferLater``
on the injected clock, so they can be cancelled and tests drive them.
"""
from __future__ import annotations

import random
from typing import Awaitable, Callable, TypeVar

from twisted.internet import task

from camservice.mediamtx.errors import MediaMTXUnavailable

__all__ = ["backoff_delay", "with_retries"]

_T = TypeVar("_T")


def backoff_delay(attempt: int, initial: float, max_delay: float, factor: float = 2.0, jitter=random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (0 = the first)."""
    return min(initial * factor**attempt, max_delay) + jitter()


async def with_retries(
    call: Callable[[], Awaitable[_T]],
    clock,
    attempts: int,
    initial: float,
    max_delay: float,
    jitter=random.random,
) -> _T:
    """``await call()``, again after a backoff while it fails with
    :class:`MediaMTXUnavailable`, at most ``attempts`` times in all.

    Rejections (4xx) and every other error are raised at once.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except MediaMTXUnavailable:
            attempt += 1
            if attempt >= attempts:
                raise
        await task.deferLater(clock, backoff_delay(attempt - 1, initial, max_delay, jitter=jitter), lambda: None)
