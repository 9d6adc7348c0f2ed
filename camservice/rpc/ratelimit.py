"""Per-connection request rate limiting (a token bucket), and the count of
refusals that tells a client which ignores ``-32040`` from one that is
merely busy."""
from __future__ import annotations

__all__ = ["STRIKE_WINDOW", "TokenBucket"]

#: seconds over which refused requests are counted against ``close_after``
STRIKE_WINDOW = 10.0


class TokenBucket:
    """Allows ``burst`` requests at once and ``rate`` per second after.

    :param rate: tokens added per second; ``0`` disables the limit.
    :param burst: the bucket's size.
    :param clock: ``IReactorTime``.
    :param close_after: refusals within :data:`STRIKE_WINDOW` seconds after
        which :attr:`abusive` turns true; ``0`` never.
    """

    __slots__ = ("_rate", "_burst", "_clock", "_tokens", "_stamp", "_close_after", "_strikes", "_window", "abusive")

    def __init__(self, rate: float, burst: int, clock, close_after: int = 0):
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock.seconds()
        self._close_after = close_after
        self._strikes = 0
        self._window = 0.0
        #: the client kept sending after being told to wait
        self.abusive = False

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
        if self._close_after:
            self._strike(now)
        return (1.0 - tokens) / self._rate

    def _strike(self, now: float) -> None:
        if now - self._window > STRIKE_WINDOW:
            self._window = now
            self._strikes = 0
        self._strikes += 1
        if self._strikes >= self._close_after:
            self.abusive = True
