"""The circuit breaker on a Clock: when it opens, how long it stays open,
the single half-open probe, and the transitions it reports."""
from __future__ import annotations

import pytest
from twisted.internet import defer

from camservice.mediamtx.breaker import BreakerState, CircuitBreaker
from camservice.mediamtx.errors import CircuitOpen, MediaMTXRejected, MediaMTXUnavailable
from helpers.deferreds import fails_with, outcome

THRESHOLD = 3
RESET = 10.0


class Dependency:
    """Counts calls; each answers as told."""

    def __init__(self):
        self.calls = 0

    def answering(self, value="ok"):
        async def call():
            self.calls += 1
            return value

        return call

    def failing(self, error: Exception):
        async def call():
            self.calls += 1
            raise error

        return call

    def waiting(self, d: defer.Deferred):
        async def call():
            self.calls += 1
            return await d

        return call


@pytest.fixture
def dep():
    return Dependency()


@pytest.fixture
def changes():
    return []


@pytest.fixture
def breaker(clock, changes):
    return CircuitBreaker(clock, THRESHOLD, RESET, on_change=lambda old, new: changes.append((old, new)))


def run(breaker: CircuitBreaker, fn) -> defer.Deferred:
    return defer.ensureDeferred(breaker.call(fn))


def open_it(breaker, dep):
    for _ in range(THRESHOLD):
        fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    assert breaker.state is BreakerState.OPEN


def test_closed_breaker_passes_calls_and_results(breaker, dep):
    assert outcome(run(breaker, dep.answering(42))) == 42
    assert dep.calls == 1
    assert breaker.state is BreakerState.CLOSED
    assert breaker.retry_in() == 0


def test_opens_after_exactly_threshold_consecutive_failures(breaker, dep, changes):
    for _ in range(THRESHOLD - 1):
        fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    assert breaker.state is BreakerState.CLOSED
    assert changes == []
    # one short of the threshold: calls still reach the dependency
    assert outcome(run(breaker, dep.answering())) == "ok"
    assert dep.calls == THRESHOLD


def test_the_threshold_failure_opens_it(breaker, dep, changes):
    for _ in range(THRESHOLD - 1):
        fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    error = fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    assert error.detail == "refused"  # the failure that opened it is the caller's
    assert breaker.state is BreakerState.OPEN
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_a_success_resets_the_count(breaker, dep):
    for _ in range(THRESHOLD - 1):
        fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    outcome(run(breaker, dep.answering()))
    assert breaker.failures == 0
    for _ in range(THRESHOLD - 1):
        fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    assert breaker.state is BreakerState.CLOSED


def test_rejections_do_not_count(breaker, dep, changes):
    for _ in range(THRESHOLD * 2):
        fails_with(run(breaker, dep.failing(MediaMTXRejected("bad conf", 400))), MediaMTXRejected)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures == 0
    for _ in range(THRESHOLD - 1):
        fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    fails_with(run(breaker, dep.failing(MediaMTXRejected("bad conf", 400))), MediaMTXRejected)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures == THRESHOLD - 1
    assert changes == []


def test_other_errors_pass_through_and_do_not_count(breaker, dep):
    for _ in range(THRESHOLD):
        fails_with(run(breaker, dep.failing(KeyError("bug"))), KeyError)
    assert breaker.state is BreakerState.CLOSED


def test_open_fails_fast_without_calling(breaker, dep, clock):
    open_it(breaker, dep)
    calls = dep.calls
    clock.advance(1)
    error = fails_with(run(breaker, dep.answering()), CircuitOpen)
    assert dep.calls == calls
    assert "9.0 s" in error.detail  # tells when it will try again
    assert not breaker.allows()


def test_retry_in_counts_down(breaker, dep, clock):
    open_it(breaker, dep)
    assert breaker.retry_in() == pytest.approx(RESET)
    clock.advance(3)
    assert breaker.retry_in() == pytest.approx(RESET - 3)
    clock.advance(RESET)
    assert breaker.retry_in() == 0


def test_still_open_just_before_the_reset_timeout(breaker, dep, clock):
    open_it(breaker, dep)
    calls = dep.calls
    clock.advance(RESET - 0.001)
    fails_with(run(breaker, dep.answering()), CircuitOpen)
    assert dep.calls == calls
    assert breaker.state is BreakerState.OPEN


def test_half_open_just_after_the_reset_timeout_lets_one_probe_through(breaker, dep, clock, changes):
    open_it(breaker, dep)
    calls = dep.calls
    clock.advance(RESET + 0.001)
    pending = defer.Deferred()
    probe = run(breaker, dep.waiting(pending))
    assert dep.calls == calls + 1
    assert breaker.state is BreakerState.HALF_OPEN
    # while the probe has not answered, everything else fails fast
    fails_with(run(breaker, dep.answering()), CircuitOpen)
    fails_with(run(breaker, dep.answering()), CircuitOpen)
    assert dep.calls == calls + 1
    pending.callback("back")
    assert outcome(probe) == "back"
    assert breaker.state is BreakerState.CLOSED
    assert outcome(run(breaker, dep.answering())) == "ok"
    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_a_successful_probe_closes_with_a_fresh_count(breaker, dep, clock):
    open_it(breaker, dep)
    clock.advance(RESET)
    outcome(run(breaker, dep.answering()))
    assert breaker.state is BreakerState.CLOSED
    for _ in range(THRESHOLD - 1):
        fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    assert breaker.state is BreakerState.CLOSED


def test_a_failed_probe_reopens_with_a_fresh_timeout(breaker, dep, clock, changes):
    open_it(breaker, dep)
    clock.advance(RESET + 5)
    pending = defer.Deferred()
    probe = run(breaker, dep.waiting(pending))
    clock.advance(2)  # the probe takes a while to fail
    pending.errback(MediaMTXUnavailable("still refused"))
    fails_with(probe, MediaMTXUnavailable)
    assert breaker.state is BreakerState.OPEN
    # the timeout counts from the failed probe, not from the first opening
    assert breaker.retry_in() == pytest.approx(RESET)
    calls = dep.calls
    clock.advance(RESET - 0.001)
    fails_with(run(breaker, dep.answering()), CircuitOpen)
    assert dep.calls == calls
    clock.advance(0.002)
    assert outcome(run(breaker, dep.answering())) == "ok"
    assert dep.calls == calls + 1
    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_a_cancelled_probe_frees_the_probe_slot(breaker, dep, clock):
    open_it(breaker, dep)
    clock.advance(RESET)
    probe = run(breaker, dep.waiting(defer.Deferred()))
    probe.cancel()
    fails_with(probe, defer.CancelledError)
    assert outcome(run(breaker, dep.answering())) == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_probe_now_skips_the_rest_of_the_reset_timeout(breaker, dep, clock, changes):
    open_it(breaker, dep)
    clock.advance(1)
    breaker.probe_now()
    assert breaker.state is BreakerState.HALF_OPEN
    assert outcome(run(breaker, dep.answering())) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_probe_now_when_closed_changes_nothing(breaker, changes):
    breaker.probe_now()
    assert breaker.state is BreakerState.CLOSED
    assert changes == []


def test_on_change_is_optional(clock, dep):
    breaker = CircuitBreaker(clock, 1, RESET)
    fails_with(run(breaker, dep.failing(MediaMTXUnavailable("refused"))), MediaMTXUnavailable)
    assert breaker.state is BreakerState.OPEN
