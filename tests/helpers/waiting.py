"""Waiting on the real reactor for a condition, in integration tests."""
from __future__ import annotations

import inspect

from twisted.internet import reactor, task


async def until(check, timeout: float = 10.0, interval: float = 0.05):
    """The first true value of ``check()`` (a plain or an async callable),
    polled every ``interval`` seconds; fails the test after ``timeout``."""
    deadline = reactor.seconds() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert reactor.seconds() < deadline, "condition not reached in time"
        await task.deferLater(reactor, interval, lambda: None)
