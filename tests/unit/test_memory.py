"""Memory is trimmed once after a burst of clients, never while busy."""
from __future__ import annotations

from camservice.memory import MemoryTrimmer, trim_memory


def test_trims_only_after_a_quiet_delay(clock):
    trims = []
    trimmer = MemoryTrimmer(clock, delay=5, trim=lambda: trims.append(clock.seconds()))
    trimmer.quiet()
    clock.advance(4.9)
    assert trims == []
    trimmer.busy()  # a client came back
    clock.advance(10)
    assert trims == []
    trimmer.quiet()
    clock.advance(5.01)
    assert len(trims) == 1


def test_trim_memory_runs():
    trim_memory()  # must not raise where glibc is (or is not) the C library
