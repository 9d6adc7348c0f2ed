"""Backoff delays and retries of idempotent calls, on a Clock."""
from __future__ import annotations

import pytest
from twisted.internet import defer

from camservice.mediamtx.errors import MediaMTXRejected, MediaMTXUnavailable, PathNotFound
from camservice.mediamtx.retry import backoff_delay, with_retries
from helpers.deferreds import fails_with, outcome

INITIAL = 0.5
MAX = 3.0


class Flaky:
    """Answers each call from a script: an exception to raise or a value."""

    def __init__(self, clock, *script):
        self.clock = clock
        self.script = list(script)
        self.times: list[float] = []

    async def __call__(self):
        self.times.append(self.clock.seconds())
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def retry(call, clock, attempts=3, jitter=lambda: 0.0) -> defer.Deferred:
    return defer.ensureDeferred(with_retries(call, clock, attempts, INITIAL, MAX, jitter=jitter))


# -- backoff_delay --------------------------------------------------------

@pytest.mark.parametrize(
    "attempt, expected",
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (4, 3.0), (20, 3.0)],
)
def test_backoff_doubles_up_to_the_maximum(attempt, expected):
    assert backoff_delay(attempt, INITIAL, MAX, jitter=lambda: 0.0) == pytest.approx(expected)


def test_backoff_factor_and_jitter_are_added_after_the_cap():
    assert backoff_delay(1, 1.0, 100, factor=3.0, jitter=lambda: 0.0) == pytest.approx(3.0)
    assert backoff_delay(2, 1.0, 100, factor=3.0, jitter=lambda: 0.0) == pytest.approx(9.0)
    # jitter comes on top of the capped delay (backoffPolicy's formula)
    assert backoff_delay(10, INITIAL, MAX, jitter=lambda: 0.25) == pytest.approx(MAX + 0.25)
    assert backoff_delay(0, INITIAL, MAX, jitter=lambda: 0.25) == pytest.approx(INITIAL + 0.25)


def test_default_jitter_is_below_one_second():
    delays = [backoff_delay(0, INITIAL, MAX) for _ in range(200)]
    assert all(INITIAL <= d < INITIAL + 1 for d in delays)
    assert len(set(delays)) > 1


# -- with_retries ---------------------------------------------------------

def test_a_first_success_makes_one_call(clock):
    call = Flaky(clock, "answer")
    assert outcome(retry(call, clock)) == "answer"
    assert len(call.times) == 1


def test_retries_unavailable_after_exactly_the_backoff(clock):
    start = clock.seconds()
    call = Flaky(clock, MediaMTXUnavailable("refused"), MediaMTXUnavailable("refused"), "answer")
    d = retry(call, clock)
    assert len(call.times) == 1
    clock.advance(INITIAL - 0.001)
    assert len(call.times) == 1
    clock.advance(0.002)
    assert len(call.times) == 2
    clock.advance(2 * INITIAL - 0.002)
    assert len(call.times) == 2
    clock.advance(0.002)
    assert outcome(d) == "answer"
    assert call.times == pytest.approx([start, start + INITIAL, start + 3 * INITIAL], abs=0.01)


def test_jitter_is_added_to_each_wait(clock):
    start = clock.seconds()
    call = Flaky(clock, MediaMTXUnavailable("refused"), "answer")
    d = retry(call, clock, jitter=lambda: 0.3)
    clock.advance(INITIAL + 0.3 - 0.001)
    assert len(call.times) == 1
    clock.advance(0.002)
    assert outcome(d) == "answer"
    assert call.times[1] == pytest.approx(start + INITIAL + 0.3, abs=0.01)


def test_gives_up_after_attempts_calls_with_the_last_error(clock):
    errors = [MediaMTXUnavailable(f"refused {n}") for n in range(3)]
    call = Flaky(clock, *errors)
    d = retry(call, clock, attempts=3)
    clock.advance(INITIAL)
    clock.advance(2 * INITIAL)
    assert fails_with(d, MediaMTXUnavailable) is errors[-1]
    assert len(call.times) == 3
    # no fourth call is scheduled
    assert clock.getDelayedCalls() == []


def test_one_attempt_means_no_retry(clock):
    call = Flaky(clock, MediaMTXUnavailable("refused"))
    fails_with(retry(call, clock, attempts=1), MediaMTXUnavailable)
    assert len(call.times) == 1


@pytest.mark.parametrize(
    "error",
    [MediaMTXRejected("bad request", 400), PathNotFound("no path", 404), ValueError("bug")],
    ids=["rejected", "not-found", "other"],
)
def test_other_errors_are_not_retried(clock, error):
    call = Flaky(clock, error, "never reached")
    assert fails_with(retry(call, clock), type(error)) is error
    assert len(call.times) == 1
    assert clock.getDelayedCalls() == []


def test_a_rejection_after_a_retry_ends_the_retries(clock):
    call = Flaky(clock, MediaMTXUnavailable("refused"), MediaMTXRejected("bad", 400), "never reached")
    d = retry(call, clock, attempts=5)
    clock.advance(INITIAL)
    fails_with(d, MediaMTXRejected)
    assert len(call.times) == 2


def test_cancel_during_a_wait_stops_cleanly(clock):
    call = Flaky(clock, MediaMTXUnavailable("refused"), "never reached")
    d = retry(call, clock)
    assert len(clock.getDelayedCalls()) == 1
    d.cancel()
    fails_with(d, defer.CancelledError)
    assert clock.getDelayedCalls() == []
    clock.advance(MAX * 10)
    assert len(call.times) == 1


def test_cancel_during_a_call_cancels_the_call(clock):
    pending = defer.Deferred()

    async def call():
        return await pending

    d = retry(call, clock)
    d.cancel()
    fails_with(d, defer.CancelledError)
    assert pending.called  # the request itself was cancelled, not left running
    assert clock.getDelayedCalls() == []
