"""Bridges between coroutines and Deferreds.

House style: write ``async def`` and ``await`` Deferreds; where Twisted wants
a Deferred back (``stopService``, a ``LoopingCall`` body, an RPC handler),
decorate the coroutine function with :func:`async_to_deferred`.
"""
from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable, TypeVar

from twisted.internet import defer

_T = TypeVar("_T")

__all__ = ["async_to_deferred", "locked", "when_all"]


def async_to_deferred(
    fn: Callable[..., Awaitable[_T]]
) -> Callable[..., "defer.Deferred[_T]"]:
    """Wrap a coroutine function so that calling it returns a Deferred.

    A synchronous raise (before the first ``await``) becomes a failed
    Deferred too, so callers only ever handle one error channel.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> "defer.Deferred[_T]":
        try:
            return defer.ensureDeferred(fn(*args, **kwargs))
        except BaseException:
            return defer.fail()

    return wrapper


def when_all(ds: list) -> defer.Deferred:
    """Wait for every Deferred in ``ds``.

    :returns: a Deferred firing with the list of results, or failing with
        the first failure once all have finished (no failure is left
        unhandled).
    """
    return defer.gatherResults(ds, consumeErrors=True).addErrback(
        lambda f: f.value.subFailure if isinstance(f.value, defer.FirstError) else f
    )


class locked:
    """``async with locked(lock):`` for a ``DeferredLock`` (Twisted 22.4's
    has no ``__aenter__``)."""

    def __init__(self, lock: defer.DeferredLock):
        self._lock = lock

    async def __aenter__(self) -> None:
        await self._lock.acquire()

    async def __aexit__(self, *exc) -> None:
        self._lock.release()
