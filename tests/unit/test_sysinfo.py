"""Resource figures from procfs: parsing, descendants, CPU windows, the
data folder's size, and the Prometheus gauges."""
from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from twisted.internet import defer

from camservice.metrics import ResourceCollector
from camservice.sysinfo import (
    DATA_DIR_MAX_AGE,
    MIN_CPU_WINDOW,
    SystemSampler,
    data_dir_bytes,
    descendants,
    read_process,
)

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class FakeProc:
    """A procfs tree in a folder: processes with CPU ticks, memory pages,
    open files and children."""

    def __init__(self, root: Path, uptime: float = 1000.0):
        self.root = root
        root.mkdir(exist_ok=True)
        (root / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
        (root / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 400 kB\nMemAvailable: 500 kB\n")
        self.set_uptime(uptime)

    def set_uptime(self, uptime: float) -> None:
        (self.root / "uptime").write_text(f"{uptime:.2f} 0.00\n")

    def process(self, pid, name, ppid=1, cpu_ticks=0, start_ticks=0, pages=10, files=3, threads=1, children=()):
        base = self.root / str(pid)
        (base / "fd").mkdir(parents=True, exist_ok=True)
        for f in (base / "fd").iterdir():
            f.unlink()
        for i in range(files):
            (base / "fd" / str(i)).write_text("")
        utime, stime = cpu_ticks // 2, cpu_ticks - cpu_ticks // 2
        fields = ["S", ppid, pid, pid, 0, -1, 0, 0, 0, 0, 0, utime, stime, 0, 0, 20, 0, threads, 0, start_ticks, 0]
        (base / "stat").write_text(f"{pid} ({name}) " + " ".join(map(str, fields)) + "\n")
        (base / "statm").write_text(f"{pages * 3} {pages} 0 0 0 0 0\n")
        (base / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
        (base / "task" / str(pid) / "children").write_text(" ".join(map(str, children)) + (" " if children else ""))

    def gone(self, pid):
        import shutil

        shutil.rmtree(self.root / str(pid))


def test_a_process_is_read_with_an_awkward_name(tmp_path):
    proc = FakeProc(tmp_path / "proc")
    proc.process(10, "my (odd) name", ppid=4, cpu_ticks=3 * TICK, start_ticks=900 * TICK, pages=7, files=5, threads=4)
    s = read_process(10, proc.root)
    assert (s.pid, s.name, s.ppid) == (10, "my (odd) name", 4)
    assert s.cpu_seconds == 3.0
    assert abs(s.age - 100.0) < 0.01
    assert s.memory_bytes == 7 * PAGE
    assert (s.threads, s.open_files) == (4, 5)
    assert read_process(11, proc.root) is None


def test_descendants_include_grandchildren_once(tmp_path):
    proc = FakeProc(tmp_path / "proc")
    proc.process(10, "twistd", children=(20, 30))
    proc.process(20, "mediamtx", ppid=10, children=(21, 22))
    proc.process(21, "ffmpeg", ppid=20)
    proc.process(22, "ffmpeg", ppid=20)
    proc.process(30, "ffmpeg", ppid=10)
    assert descendants(10, proc.root) == [20, 30, 21, 22]
    assert descendants(10, proc.root, limit=2) == [20, 30]
    assert descendants(99, proc.root) == []


def test_the_real_process_has_memory_and_open_files():
    s = read_process(os.getpid())
    assert s.memory_bytes > 1_000_000
    assert s.open_files >= 3 and s.threads >= 1 and s.cpu_seconds > 0


def test_resources_cpu_windows_and_children(tmp_path, clock):
    proc = FakeProc(tmp_path / "proc", uptime=1000.0)
    proc.process(10, "twistd", cpu_ticks=50 * TICK, children=(20,), pages=100, files=12, threads=3)
    # a child that started 100 s ago and used 10 s of CPU: 10 % on average
    proc.process(20, "mediamtx", ppid=10, cpu_ticks=10 * TICK, start_ticks=900 * TICK, pages=50, files=4)
    sampler = SystemSampler(clock, tmp_path, pid=10, proc=proc.root)
    r = sampler.resources()
    assert r["cpu_usage"] == 0.0  # the service's own count starts at construction
    assert r["memory_bytes"] == 100 * PAGE and r["open_files"] == 12 and r["threads"] == 3
    assert r["children"] == [
        {"pid": 20, "name": "mediamtx", "cpu_usage": 10.0, "memory_bytes": 50 * PAGE, "open_files": 4}
    ]
    assert r["children_cpu_usage"] == 10.0 and r["children_memory_bytes"] == 50 * PAGE
    assert r["data_dir_bytes"] is None

    # 2 s later: the service used 0.5 s (25 %), the child 1 s (50 %)
    clock.advance(2)
    proc.set_uptime(1002.0)
    proc.process(10, "twistd", cpu_ticks=int(50.5 * TICK), children=(20,), pages=100, files=12, threads=3)
    proc.process(20, "mediamtx", ppid=10, cpu_ticks=11 * TICK, start_ticks=900 * TICK, pages=50, files=4)
    r = sampler.resources()
    assert r["cpu_usage"] == 25.0
    assert r["children"][0]["cpu_usage"] == 50.0
    # just inside the window: the same figures, whatever happened since
    clock.advance(MIN_CPU_WINDOW * 0.95)
    proc.process(10, "twistd", cpu_ticks=60 * TICK, children=(20,))
    assert sampler.resources()["cpu_usage"] == 25.0
    clock.advance(MIN_CPU_WINDOW * 0.1)
    assert sampler.resources()["cpu_usage"] > 25.0

    # the child is gone: no longer reported nor remembered
    proc.process(10, "twistd", cpu_ticks=60 * TICK, children=())
    proc.gone(20)
    r = sampler.resources()
    assert r["children"] == [] and r["children_memory_bytes"] == 0


def test_get_metrics_figures_keep_the_old_keys_and_add_the_new(tmp_path, clock):
    proc = FakeProc(tmp_path / "proc")
    proc.process(10, "twistd", children=(20,))
    proc.process(20, "mediamtx", ppid=10)
    sample = SystemSampler(clock, tmp_path, pid=10, proc=proc.root).sample()
    assert {"cpu_usage", "memory_usage", "disk_usage", "process_cpu_usage", "process_memory_bytes",
            "load_average", "cpu_count"} <= sample.keys()
    assert sample["memory_usage"] == 50.0
    assert sample["process_open_files"] == 3 and sample["children"][0]["name"] == "mediamtx"
    assert {"children_cpu_usage", "children_memory_bytes", "data_dir_bytes", "process_threads"} <= sample.keys()


def test_data_dir_size_counts_files_not_links_and_stops_at_the_cap(tmp_path):
    data = tmp_path / "data"
    (data / "a" / "b").mkdir(parents=True)
    (data / "x").write_bytes(b"1" * 100)
    (data / "a" / "y").write_bytes(b"2" * 20)
    (data / "a" / "b" / "z").write_bytes(b"3" * 3)
    (data / "link").symlink_to(tmp_path)  # not followed
    assert data_dir_bytes(data) == (123, True)
    assert data_dir_bytes(data, max_entries=2)[1] is False
    assert data_dir_bytes(tmp_path / "missing") == (0, True)


def test_the_data_dir_is_measured_off_the_reactor_at_most_once_a_minute(tmp_path, clock):
    proc = FakeProc(tmp_path / "proc")
    proc.process(10, "twistd")
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_bytes(b"x" * 10)
    runs = []

    def run_blocking(f):
        runs.append(f)
        return defer.maybeDeferred(f)

    sampler = SystemSampler(clock, data, run_blocking=run_blocking, pid=10, proc=proc.root)
    sampler.refresh_data_dir()
    assert sampler.resources()["data_dir_bytes"] == 10
    (data / "g").write_bytes(b"x" * 5)
    clock.advance(DATA_DIR_MAX_AGE * 0.95)
    sampler.refresh_data_dir()
    assert len(runs) == 1 and sampler.resources()["data_dir_bytes"] == 10
    clock.advance(DATA_DIR_MAX_AGE * 0.1)
    sampler.refresh_data_dir()
    assert len(runs) == 2 and sampler.resources()["data_dir_bytes"] == 15


def test_prometheus_gauges_are_read_at_scrape(tmp_path, clock):
    proc = FakeProc(tmp_path / "proc")
    proc.process(10, "twistd", pages=100, files=7, children=(20, 21))
    proc.process(20, "mediamtx", ppid=10, pages=30)
    proc.process(21, "ffmpeg", ppid=10, pages=20)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_bytes(b"x" * 42)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ResourceCollector(SystemSampler(clock, data, pid=10, proc=proc.root)))
    text = generate_latest(registry).decode()
    values = {
        line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")
    }
    assert values["camservice_process_resident_memory_bytes"] == 100 * PAGE
    assert values["camservice_process_open_files"] == 7
    assert values["camservice_children"] == 2
    assert values["camservice_children_resident_memory_bytes"] == 50 * PAGE
    assert values["camservice_data_dir_bytes"] == 42
    # a new process appears at the next scrape
    proc.process(10, "twistd", pages=100, files=7, children=(20, 21, 22))
    proc.process(22, "v4l2-ctl", ppid=10, pages=1)
    assert "camservice_children 3.0" in generate_latest(registry).decode()
