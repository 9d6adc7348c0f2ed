"""Storage states from statvfs figures: thresholds, system.health on
each change, check_writable refusing at the block threshold, reload."""
from __future__ import annotations

import dataclasses

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from camservice.config.model import MediaConfig, StorageConfig
from camservice.events import EventBus
from camservice.media import storage as storage_module
from camservice.media.errors import StorageCritical
from camservice.media.files import MediaFiles
from camservice.media.storage import StorageMonitor, Usage, measure, state_of

from helpers.deferreds import outcome

MB = 1024 * 1024


def inline(f, *args, **kwargs):
    return defer.maybeDeferred(f, *args, **kwargs)


class FakeDisk:
    """statvfs figures a test sets (the real measure is tested below)."""

    def __init__(self):
        self.usage = Usage(1000 * MB, 100 * MB, 900 * MB)

    def __call__(self, folders):
        return self.usage


@pytest.fixture
def setup(tmp_path, clock, monkeypatch):
    disk = FakeDisk()
    monkeypatch.setattr(storage_module, "measure", disk)
    config = MediaConfig(recordings_dir=tmp_path / "r", snapshots_dir=tmp_path / "s",
                         storage=StorageConfig(warn_percent=80, block_percent=95, min_free_mb=10, check_interval=5))
    files = MediaFiles(config, tmp_path / "m.json", clock, run_blocking=inline)
    bus = EventBus()
    events = []
    bus.subscribe(lambda e: events.append(e) if e.topic == "system.health" else None)
    monitor = StorageMonitor(config, files, bus, clock, run_blocking=inline)
    yield monitor, disk, events, clock
    if monitor.running:
        monitor.stopService()


def test_states():
    config = StorageConfig(warn_percent=80, block_percent=95, min_free_mb=10)
    assert state_of(Usage(100 * MB, 79 * MB, 21 * MB), config) == "ok"
    assert state_of(Usage(100 * MB, 80 * MB, 20 * MB), config) == "low"
    assert state_of(Usage(100 * MB, 95 * MB, 5 * MB), config) == "critical"
    # below min_free_mb whatever the percentage
    assert state_of(Usage(20000 * MB, 10 * MB, 9 * MB), config) == "critical"


def test_measure_reads_the_real_filesystem(tmp_path):
    usage = measure((tmp_path / "not-yet" / "recordings", tmp_path))
    assert usage.total > 0 and 0 <= usage.percent <= 100
    assert usage.used + usage.available <= usage.total


def test_changes_publish_system_health_once(setup):
    monitor, disk, events, clock = setup
    monitor.startService()
    assert monitor.state == "ok" and events == []
    disk.usage = Usage(1000 * MB, 850 * MB, 150 * MB)
    clock.advance(4.9)
    assert monitor.state == "ok"
    clock.advance(0.2)
    assert monitor.state == "low" and not monitor.critical
    assert [(e.data["component"], e.data["status"], e.data["previous"]) for e in events] == [("storage", "low", "ok")]
    clock.advance(5)
    assert len(events) == 1  # no change, no event
    disk.usage = Usage(1000 * MB, 960 * MB, 40 * MB)
    clock.advance(5)
    assert monitor.critical and events[-1].data["status"] == "critical"
    assert "96.0% used, 40 MB free" == events[-1].data["detail"]
    disk.usage = Usage(1000 * MB, 100 * MB, 900 * MB)
    clock.advance(5)
    assert monitor.state == "ok" and events[-1].data["previous"] == "critical"


def test_check_writable_measures_now(setup):
    monitor, disk, events, clock = setup
    monitor.startService()
    assert outcome(monitor.check_writable()) is None
    disk.usage = Usage(1000 * MB, 999 * MB, 1 * MB)
    refused = outcome(monitor.check_writable())  # without waiting for the loop
    assert isinstance(refused, Failure) and refused.check(StorageCritical)
    assert "1 MB free" in refused.value.detail


def test_info_figures(setup):
    monitor, disk, events, clock = setup
    disk.usage = Usage(1000 * MB, 810 * MB, 190 * MB)
    info = outcome(monitor.info())
    assert info == {
        "total_space": 1000 * MB, "used_space": 810 * MB, "available_space": 190 * MB,
        "usage_percentage": 81.0, "recordings_size": 0, "snapshots_size": 0, "low_space_warning": True,
    }


def test_reload_takes_thresholds_and_interval(setup, tmp_path):
    monitor, disk, events, clock = setup
    monitor.startService()
    disk.usage = Usage(1000 * MB, 700 * MB, 300 * MB)
    clock.advance(5)
    assert monitor.state == "ok"

    @dataclasses.dataclass
    class New:
        media: MediaConfig

    new = New(MediaConfig(storage=StorageConfig(warn_percent=60, block_percent=95, min_free_mb=10, check_interval=20)))
    monitor.checkConfig(new)
    assert outcome(monitor.reconfigService(new)) is None
    assert monitor.state == "low"  # checked at once with the new thresholds
    disk.usage = Usage(1000 * MB, 100 * MB, 900 * MB)
    clock.advance(19.9)
    assert monitor.state == "low"
    clock.advance(0.2)
    assert monitor.state == "ok"
