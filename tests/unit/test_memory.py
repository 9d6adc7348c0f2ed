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


def test_trim_memory_collects_then_hands_pages_back(monkeypatch):
    import camservice.memory as memory

    calls = []
    monkeypatch.setattr(memory.gc, "collect", lambda: calls.append("collect"))
    monkeypatch.setattr(memory, "_MALLOC_TRIM", lambda pad: calls.append(("malloc_trim", pad)))
    trim_memory()
    assert calls == ["collect", ("malloc_trim", 0)]


def test_trim_memory_without_glibc_only_collects(monkeypatch):
    import camservice.memory as memory

    calls = []
    monkeypatch.setattr(memory.gc, "collect", lambda: calls.append("collect"))
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    trim_memory()
    assert calls == ["collect"]
