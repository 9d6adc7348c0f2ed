"""Reconnection delays: exponential, capped, with jitter.

A fleet whose broker restarts must not come back all at once: each delay
is taken at a random point between half and all of the exponential step.
"""
from __future__ import annotations

import random as _random
from typing import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays ``initial, 2*initial, 4*initial ...`` up to ``maximum``,
    each multiplied by a factor in ``[0.5, 1)``.

    :param random: ``() -> float`` in ``[0, 1)`` (tests pass their own).
    """

    def __init__(self, initial: float, maximum: float, random: Callable[[], float] = _random.random):
        self.initial = initial
        self.maximum = max(maximum, initial)
        self._random = random
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (and count it)."""
        step = min(self.maximum, self.initial * (2 ** min(self.attempts, 62)))
        self.attempts += 1
        return step * (0.5 + 0.5 * self._random())

    def reset(self) -> None:
        """A connection succeeded: start again from ``initial``."""
        self.attempts = 0
