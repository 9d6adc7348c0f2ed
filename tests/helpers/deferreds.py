"""Reading Deferreds in tests without a running reactor (trial's
successResultOf / failureResultOf, for pytest)."""
from __future__ import annotations

from twisted.internet import defer
from twisted.python.failure import Failure


def outcome(d: defer.Deferred):
    """What ``d`` fired with (a Failure if it failed); fails the test if
    it has not fired."""
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def fails_with(d: defer.Deferred, error_type):
    """The exception ``d`` failed with, checked to be ``error_type``."""
    result = outcome(d)
    assert isinstance(result, Failure), f"fired with {result!r}, expected {error_type.__name__}"
    assert result.check(error_type), result
    return result.value


def has_no_result(d: defer.Deferred) -> bool:
    """Whether ``d`` has not fired yet (without consuming its result)."""
    results = []
    d.addBoth(lambda r: (results.append(r), r)[1])
    return not results
