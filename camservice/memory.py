"""Giving memory back to the system after a burst.

CPython keeps freed memory in its own pools and glibc keeps freed heap
pages; after hundreds of clients have come and gone, a collection followed
by ``malloc_trim`` returns what can be returned. A no-op where glibc is
not the C library.

The interpreter's type-attribute cache holds a reference to the name of
every attribute looked up through it, and some libraries look attributes
up by names made at run time (PyJWT's key preparation, once per verified
token), so the cache is cleared first: else those names, and the pages
they sit on, outlive the burst.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from typing import Optional

__all__ = ["MemoryTrimmer", "freeze_startup_objects", "trim_memory"]


def _libc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_trim()


def _hand_back() -> None:
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def trim_memory() -> None:
    """Clear the type-attribute cache, collect garbage and hand free heap
    pages back to the system."""
    sys._clear_type_cache()
    gc.collect()
    _hand_back()


def freeze_startup_objects() -> None:
    """Collect, then move every object alive now (modules, the service tree,
    its configuration) to the collector's permanent generation: later
    collections no longer walk them, and a burst of clients is collected
    without touching the pages they live on. Then hand the start-up's free
    heap pages back: the first start after an install or upgrade compiles
    the bytecode cache, which leaves megabytes freed but resident (about
    6 of them, measured). Called once, when the service has started
    (``gc.freeze``, Python 3.7+)."""
    gc.collect()
    gc.freeze()
    _hand_back()


class MemoryTrimmer:
    """Trims once things have been quiet for ``delay`` seconds after a
    burst (so a busy service is never interrupted by it).

    :param clock: ``IReactorTime``.
    """

    def __init__(self, clock, delay: float = 5.0, trim=trim_memory):
        self._clock = clock
        self._delay = delay
        self._trim = trim
        self._call: Optional[object] = None

    def quiet(self) -> None:
        """Things just became quiet: trim after ``delay`` unless busy again."""
        self.busy()
        self._call = self._clock.callLater(self._delay, self._run)

    def busy(self) -> None:
        """Things are busy again: don't trim now."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _run(self) -> None:
        self._call = None
        self._trim()
