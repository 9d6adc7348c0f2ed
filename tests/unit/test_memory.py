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


def test_trim_memory_clears_the_type_cache_collects_then_hands_pages_back(monkeypatch):
    import camservice.memory as memory

    calls = []
    monkeypatch.setattr(memory.sys, "_clear_type_cache", lambda: calls.append("clear_type_cache"))
    monkeypatch.setattr(memory.gc, "collect", lambda: calls.append("collect"))
    monkeypatch.setattr(memory, "_MALLOC_TRIM", lambda pad: calls.append(("malloc_trim", pad)))
    trim_memory()
    assert calls == ["clear_type_cache", "collect", ("malloc_trim", 0)]


def test_trim_memory_without_glibc_clears_and_collects(monkeypatch):
    import camservice.memory as memory

    calls = []
    monkeypatch.setattr(memory.sys, "_clear_type_cache", lambda: calls.append("clear_type_cache"))
    monkeypatch.setattr(memory.gc, "collect", lambda: calls.append("collect"))
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    trim_memory()
    assert calls == ["clear_type_cache", "collect"]


def test_trim_memory_lets_go_of_attribute_names_made_at_run_time(monkeypatch):
    # PyJWT's key preparation looks attributes up by names it makes per
    # verified token: the type-attribute cache keeps each name alive
    import sys

    import camservice.memory as memory

    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)

    class Token:
        pass

    name = "".join(["made_at_run_time_", str(id(Token))])  # not interned
    alone = sys.getrefcount(name)
    getattr(Token, name, None)
    assert sys.getrefcount(name) > alone  # held by the cache
    trim_memory()
    assert sys.getrefcount(name) == alone


class _Conn:
    """What the factory sees of an open connection."""

    def __init__(self, session):
        self.session = session

    def end_session(self, *args, **kwargs):
        pass


def _burst(harness, count: int) -> list:
    factory = harness.tree.getServiceNamed("api").factory
    conns = [_Conn(harness.session("viewer")) for _ in range(count)]
    for conn in conns:
        factory.opened(conn)
    return conns


def test_memory_is_trimmed_after_a_burst_of_clients_has_left(harness):
    from camservice.server.protocol import TRIM_AFTER_PEAK

    factory = harness.tree.getServiceNamed("api").factory
    trims = []
    factory.trimmer = MemoryTrimmer(harness.clock, delay=5, trim=lambda: trims.append(harness.clock.seconds()))
    conns = _burst(harness, TRIM_AFTER_PEAK)
    for conn in conns[:-1]:
        factory.closed(conn)
    harness.clock.advance(60)
    assert trims == []  # one client is still there
    factory.closed(conns[-1])
    harness.clock.advance(4.9)
    assert trims == []
    harness.clock.advance(0.2)
    assert len(trims) == 1
    harness.clock.advance(60)
    assert len(trims) == 1  # once per burst


def test_a_client_arriving_in_the_quiet_delay_puts_the_trim_off(harness):
    from camservice.server.protocol import TRIM_AFTER_PEAK

    factory = harness.tree.getServiceNamed("api").factory
    trims = []
    factory.trimmer = MemoryTrimmer(harness.clock, delay=5, trim=lambda: trims.append(harness.clock.seconds()))
    for conn in _burst(harness, TRIM_AFTER_PEAK):
        factory.closed(conn)
    harness.clock.advance(2)
    late = _burst(harness, 1)
    harness.clock.advance(60)
    assert trims == []
    factory.closed(late[0])
    harness.clock.advance(60)
    assert trims == []  # a peak of one is no burst


def test_a_few_clients_leaving_do_not_trim(harness):
    from camservice.server.protocol import TRIM_AFTER_PEAK

    factory = harness.tree.getServiceNamed("api").factory
    trims = []
    factory.trimmer = MemoryTrimmer(harness.clock, delay=5, trim=lambda: trims.append(1))
    for conn in _burst(harness, TRIM_AFTER_PEAK - 1):
        factory.closed(conn)
    harness.clock.advance(60)
    assert trims == []


def test_startup_objects_are_frozen_after_a_collection_then_pages_handed_back(monkeypatch):
    import camservice.memory as memory

    calls = []
    monkeypatch.setattr(memory.gc, "collect", lambda: calls.append("collect"))
    monkeypatch.setattr(memory.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(memory, "_MALLOC_TRIM", lambda pad: calls.append(("malloc_trim", pad)))
    memory.freeze_startup_objects()
    assert calls == ["collect", "freeze", ("malloc_trim", 0)]


def test_freezing_moves_live_objects_to_the_permanent_generation():
    import gc

    from camservice.memory import freeze_startup_objects

    kept = [object() for _ in range(10)]
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
