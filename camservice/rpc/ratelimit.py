"""Per-connection request rate limiting (a token bucket)."""
from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allows ``burst`` requests at once and ``rate`` per second after.

    :param rate: tokens added per second; ``0`` disables the limit.
    :param burst: the bucket's size.
    :param clock: ``IReactorTime``.
    """

    __slots__ = ("_rate", "_burst", "_clock", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: int, clock):
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock.seconds()

    def take(self) -> float:
        """Spend one token.

        :returns: ``0`` if the request may go ahead, else the seconds to
            wait before one will be allowed.
        """
        if not self._rate:
            return 0.0
        now = self._clock.seconds()
        tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self._rate
