"""The token bucket counts refusals: a client that keeps sending after
-32040 is told apart from one that bursts now and then."""
from __future__ import annotations

from camservice.rpc.ratelimit import STRIKE_WINDOW, TokenBucket


def test_refusals_within_the_window_make_a_client_abusive(clock):
    bucket = TokenBucket(1, 2, clock, close_after=3)
    assert bucket.take() == 0 and bucket.take() == 0
    assert bucket.take() > 0 and bucket.take() > 0
    assert not bucket.abusive
    assert bucket.take() > 0
    assert bucket.abusive


def test_refusals_spread_over_windows_are_forgiven(clock):
    bucket = TokenBucket(0.01, 1, clock, close_after=3)
    bucket.take()
    for _ in range(5):
        assert bucket.take() > 0
        assert bucket.take() > 0
        clock.advance(STRIKE_WINDOW + 0.1)
    assert not bucket.abusive


def test_close_after_zero_never_marks_abuse(clock):
    bucket = TokenBucket(1, 1, clock, close_after=0)
    for _ in range(1000):
        bucket.take()
    assert not bucket.abusive


def test_no_rate_no_refusals(clock):
    bucket = TokenBucket(0, 1, clock, close_after=1)
    assert all(bucket.take() == 0 for _ in range(100))
    assert not bucket.abusive
