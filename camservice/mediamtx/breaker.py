"""A circuit breaker: stop calling a dependency that keeps failing.

closed (calls pass) --N consecutive failures--> open (calls fail fast with
:class:`CircuitOpen`) --reset timeout--> half-open (one probe passes;
success closes, failure opens again).
"""
from __future__ import annotations

import enum
from typing import Awaitable, Callable, Optional, TypeVar

from camservice.mediamtx.errors import CircuitOpen, MediaMTXUnavailable

__all__ = ["BreakerState", "CircuitBreaker"]

_T = TypeVar("_T")


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Guards calls to one dependency.

    Only :class:`MediaMTXUnavailable` counts as a failure: a rejected
    request means the server answered.

    :param clock: ``IReactorTime``.
    :param failure_threshold: consecutive failures that open the circuit.
    :param reset_timeout: seconds open before one probe is allowed.
    :param on_change: called with ``(old, new)`` on every state change.
    """

    def __init__(
        self,
        clock,
        failure_threshold: int,
        reset_timeout: float,
        on_change: Optional[Callable[[BreakerState, BreakerState], None]] = None,
    ):
        self._clock = clock
        self._threshold = failure_threshold
        self._reset_timeout = reset_timeout
        self._on_change = on_change
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def configure(self, failure_threshold: int, reset_timeout: float) -> None:
        """Use these limits from the next failure on (a reload)."""
        self._threshold = failure_threshold
        self._reset_timeout = reset_timeout

    def retry_in(self) -> float:
        """Seconds until a probe will be let through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._reset_timeout - self._clock.seconds())

    def allows(self) -> bool:
        """Whether a call may go through now (moves open -> half-open when
        the reset timeout has passed)."""
        if self.state is BreakerState.OPEN and self.retry_in() <= 0:
            self._set(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            return not self._probing
        return self.state is BreakerState.CLOSED

    async def call(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``fn`` under the breaker.

        :raises CircuitOpen: the circuit is open (or a probe is running).
        """
        if not self.allows():
            raise CircuitOpen(f"MediaMTX is unreachable; next attempt in {self.retry_in():.1f} s")
        probing = self.state is BreakerState.HALF_OPEN
        self._probing = probing
        try:
            result = await fn()
        except MediaMTXUnavailable:
            self.record_failure()
            raise
        finally:
            if probing:
                self._probing = False
        self.record_success()
        return result

    def probe_now(self) -> None:
        """Let the next call through as a probe even if the reset timeout
        has not passed (the dependency is known to have just restarted)."""
        if self.state is BreakerState.OPEN:
            self._set(BreakerState.HALF_OPEN)

    def record_success(self) -> None:
        self.failures = 0
        self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self._threshold:
            self._opened_at = self._clock.seconds()
            self._set(BreakerState.OPEN)

    def _set(self, new: BreakerState) -> None:
        old, self.state = self.state, new
        if old is not new and self._on_change is not None:
            self._on_change(old, new)
