"""Host and process figures for ``get_metrics``, ``get_system_status``,
``/metrics`` and ``camservice-admin diagnose``, read from procfs.

procfs reads are served from kernel memory (no disk), so the few small
files per process read here are cheap enough for the reactor thread. The
size of the data folder needs a walk of the folder: that runs in a thread
and its result is kept for :data:`DATA_DIR_MAX_AGE` seconds.

The figures may be asked for from the reactor thread and from the thread
that renders ``/metrics`` at once, so the sampler's state is locked.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import defer

__all__ = ["ProcessSample", "SystemSampler", "data_dir_bytes", "descendants", "read_process"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")
#: Seconds a CPU percentage is averaged over at least: callers closer
#: together than this get the last figure again, so get_metrics, a
#: Prometheus scrape and get_system_status do not shrink each other's window.
MIN_CPU_WINDOW = 1.0
#: Seconds the data folder's size is kept before it is walked again.
DATA_DIR_MAX_AGE = 60.0
#: Folder entries a walk of the data folder looks at, at most.
DATA_DIR_MAX_ENTRIES = 100_000
#: Descendant processes reported, at most.
MAX_CHILDREN = 256


def _cpu_times(proc: Path) -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open(proc / "stat", "rb") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


def _meminfo(proc: Path) -> dict[str, int]:
    out = {}
    with open(proc / "meminfo", "rb") as f:
        for line in f:
            key, _, rest = line.partition(b":")
            out[key.decode()] = int(rest.split()[0]) * 1024
    return out


def process_rss_bytes() -> int:
    """Resident memory of this process."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


@dataclass(frozen=True)
class ProcessSample:
    """One process as procfs shows it now.

    :ivar cpu_seconds: user plus system CPU time since it started.
    :ivar age: seconds since it started.
    :ivar open_files: entries in its ``fd`` folder (``None`` when another
        user's process hides them).
    """

    pid: int
    name: str
    ppid: int
    cpu_seconds: float
    age: float
    memory_bytes: int
    threads: int
    open_files: Optional[int]


def read_process(pid: int, proc: Path = Path("/proc")) -> Optional[ProcessSample]:
    """``pid`` now, or ``None`` if it is gone."""
    base = proc / str(pid)
    try:
        stat = (base / "stat").read_bytes()
        statm = (base / "statm").read_bytes()
        with open(proc / "uptime", "rb") as f:
            uptime = float(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the name is in parentheses and may hold spaces or parentheses itself
    name = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode("utf-8", "replace")
    rest = stat[stat.rindex(b")") + 2 :].split()
    # fields from 3 (state): ppid is 4, utime 14, stime 15, num_threads 20, starttime 22
    ppid, utime, stime = int(rest[1]), int(rest[11]), int(rest[12])
    threads, start = int(rest[17]), int(rest[19])
    try:
        open_files: Optional[int] = len(os.listdir(base / "fd"))
    except PermissionError:
        open_files = None
    except FileNotFoundError:
        return None
    return ProcessSample(
        pid=pid,
        name=name,
        ppid=ppid,
        cpu_seconds=(utime + stime) / _TICK,
        age=max(0.0, uptime - start / _TICK),
        memory_bytes=int(statm.split()[1]) * _PAGE,
        threads=threads,
        open_files=open_files,
    )


def _children(pid: int, proc: Path) -> list[int]:
    found = []
    try:
        tasks = os.listdir(proc / str(pid) / "task")
    except FileNotFoundError:
        return []
    for tid in tasks:
        try:
            found += [int(x) for x in (proc / str(pid) / "task" / tid / "children").read_bytes().split()]
        except FileNotFoundError:
            continue
    return found


def descendants(pid: int, proc: Path = Path("/proc"), limit: int = MAX_CHILDREN) -> list[int]:
    """The children of ``pid``, their children and so on (MediaMTX's FFmpeg
    sources are its children), at most ``limit`` of them."""
    out: list[int] = []
    todo = _children(pid, proc)
    while todo and len(out) < limit:
        child = todo.pop(0)
        if child in out:
            continue
        out.append(child)
        todo += _children(child, proc)
    return out


def data_dir_bytes(path: Path, max_entries: int = DATA_DIR_MAX_ENTRIES) -> tuple[int, bool]:
    """Bytes of the files under ``path`` (symlinks not followed) and
    whether every entry was counted (``False``: more than ``max_entries``)."""
    total, seen, stack = 0, 0, [str(path)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        with entries:
            for entry in entries:
                seen += 1
                if seen > max_entries:
                    return total, False
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
    return total, True


class _CpuMeter:
    """CPU percentages per process between samples at least
    :data:`MIN_CPU_WINDOW` apart; a process seen for the first time gets
    its average over its whole life."""

    def __init__(self) -> None:
        self._base: dict[int, tuple[float, float]] = {}
        self._last: dict[int, float] = {}

    def percent(self, sample: ProcessSample, now: float) -> float:
        base = self._base.get(sample.pid)
        if base is None:
            self._base[sample.pid] = (sample.cpu_seconds, now)
            value = 100.0 * sample.cpu_seconds / sample.age if sample.age > 0 else 0.0
            self._last[sample.pid] = value
            return round(value, 1)
        cpu, then = base
        if now - then < MIN_CPU_WINDOW:
            return round(self._last[sample.pid], 1)
        value = max(0.0, 100.0 * (sample.cpu_seconds - cpu) / (now - then))
        self._base[sample.pid] = (sample.cpu_seconds, now)
        self._last[sample.pid] = value
        return round(value, 1)

    def start(self, sample: ProcessSample, now: float) -> None:
        """Count ``sample``'s process from ``now`` (0 % until the window)."""
        self._base[sample.pid] = (sample.cpu_seconds, now)
        self._last[sample.pid] = 0.0

    def forget_all_but(self, pids) -> None:
        keep = set(pids)
        for pid in list(self._base):
            if pid not in keep:
                del self._base[pid]
                self._last.pop(pid, None)


class SystemSampler:
    """CPU use between successive samples, memory and disk use now, and
    the figures of this process and its children.

    :param clock: ``IReactorTime``.
    :param disk_path: the data folder: ``disk_usage`` reports its
        filesystem, ``data_dir_bytes`` its size.
    :param run_blocking: runs a blocking function off the reactor thread,
        returning a Deferred (the folder walk).
    :param pid: the process to report (default: this one).
    :param proc: where procfs is mounted (tests use a fake tree).
    """

    def __init__(
        self,
        clock,
        disk_path: Path,
        run_blocking: Optional[Callable[..., defer.Deferred]] = None,
        pid: Optional[int] = None,
        proc: Path = Path("/proc"),
    ):
        self._clock = clock
        self._disk_path = Path(disk_path)
        self._run_blocking = run_blocking
        self._pid = os.getpid() if pid is None else pid
        self._proc = Path(proc)
        self._lock = threading.Lock()
        self._last_cpu = _cpu_times(self._proc)
        self._meter = _CpuMeter()
        self._data_dir: Optional[tuple[int, bool]] = None
        self._data_dir_at: Optional[float] = None
        own = read_process(self._pid, self._proc)
        if own is not None:
            # the process's own percentage counts from here, not its start
            self._meter.start(own, clock.seconds())

    def sample(self) -> dict:
        """``system_metrics`` of ``get_metrics``: percentages 0..100 (CPU
        of one process: of one CPU, so up to 100 × CPUs)."""
        with self._lock:
            busy, total = _cpu_times(self._proc)
            d_busy, d_total = busy - self._last_cpu[0], total - self._last_cpu[1]
            cpu = 100.0 * d_busy / d_total if d_total > 0 else 0.0
            self._last_cpu = (busy, total)
        mem = _meminfo(self._proc)
        mem_total = mem.get("MemTotal", 0)
        mem_used = mem_total - mem.get("MemAvailable", mem.get("MemFree", 0))
        res = self.resources()
        return {
            "cpu_usage": round(cpu, 1),
            "memory_usage": round(100.0 * mem_used / mem_total, 1) if mem_total else 0.0,
            "disk_usage": self._disk_usage(),
            "process_cpu_usage": res["cpu_usage"],
            "process_memory_bytes": res["memory_bytes"],
            "process_open_files": res["open_files"],
            "process_threads": res["threads"],
            "children": res["children"],
            "children_cpu_usage": res["children_cpu_usage"],
            "children_memory_bytes": res["children_memory_bytes"],
            "data_dir_bytes": res["data_dir_bytes"],
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu_count": os.cpu_count(),
        }

    def resources(self) -> dict:
        """This process and its descendants: CPU (% of one CPU), resident
        memory, open files; the data folder's size as last measured
        (``None`` before the first walk)."""
        now = self._clock.seconds()
        own = read_process(self._pid, self._proc)
        with self._lock:
            children = []
            for pid in descendants(self._pid, self._proc):
                s = read_process(pid, self._proc)
                if s is not None:
                    children.append((s, self._meter.percent(s, now)))
            own_cpu = self._meter.percent(own, now) if own is not None else 0.0
            self._meter.forget_all_but([self._pid] + [s.pid for s, _ in children])
        return {
            "pid": self._pid,
            "cpu_usage": own_cpu,
            "memory_bytes": own.memory_bytes if own else 0,
            "open_files": own.open_files if own else None,
            "threads": own.threads if own else 0,
            "children": [
                {"pid": s.pid, "name": s.name, "cpu_usage": cpu, "memory_bytes": s.memory_bytes,
                 "open_files": s.open_files}
                for s, cpu in children
            ],
            "children_cpu_usage": round(sum(cpu for _, cpu in children), 1),
            "children_memory_bytes": sum(s.memory_bytes for s, _ in children),
            "data_dir_bytes": self._data_dir[0] if self._data_dir else None,
        }

    def measure_data_dir(self) -> tuple[int, bool]:
        """Walk the data folder now (blocking: call it off the reactor
        thread); the result is kept for :meth:`resources`."""
        result = data_dir_bytes(self._disk_path)
        with self._lock:
            self._data_dir, self._data_dir_at = result, self._clock.seconds()
        return result

    def data_dir_is_stale(self) -> bool:
        at = self._data_dir_at
        return at is None or self._clock.seconds() - at >= DATA_DIR_MAX_AGE

    def refresh_data_dir(self) -> defer.Deferred:
        """Measure the data folder in a thread if the last measure is older
        than :data:`DATA_DIR_MAX_AGE`; fires when done (never fails: an
        error leaves the old figure)."""
        if self._run_blocking is None or not self.data_dir_is_stale():
            return defer.succeed(None)
        d = self._run_blocking(self.measure_data_dir)
        d.addErrback(lambda f: f.trap(OSError))
        return d

    def _disk_usage(self) -> Optional[float]:
        path = self._disk_path
        while not path.exists() and path != path.parent:
            path = path.parent
        st = os.statvfs(path)
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        return round(100.0 * (total - free) / total, 1) if total else None
