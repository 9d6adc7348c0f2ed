"""Host and process figures for ``get_metrics``, read from procfs.

procfs reads are served from kernel memory (no disk), so they are cheap
enough for the reactor thread.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["SystemSampler"]


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", "rb") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


def _meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo", "rb") as f:
        for line in f:
            key, _, rest = line.partition(b":")
            out[key.decode()] = int(rest.split()[0]) * 1024
    return out


def process_rss_bytes() -> int:
    """Resident memory of this process."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class SystemSampler:
    """CPU use between successive samples, memory and disk use now.

    :param clock: ``IReactorTime``.
    :param disk_path: the folder whose filesystem ``disk_usage`` reports.
    """

    def __init__(self, clock, disk_path: Path):
        self._clock = clock
        self._disk_path = disk_path
        self._last_cpu = _cpu_times()
        self._last_proc = (sum(os.times()[:2]), clock.seconds())

    def sample(self) -> dict:
        """``system_metrics`` of ``get_metrics``: percentages 0..100."""
        busy, total = _cpu_times()
        d_busy, d_total = busy - self._last_cpu[0], total - self._last_cpu[1]
        cpu = 100.0 * d_busy / d_total if d_total > 0 else 0.0
        self._last_cpu = (busy, total)
        proc_cpu, now = sum(os.times()[:2]), self._clock.seconds()
        d_proc, d_wall = proc_cpu - self._last_proc[0], now - self._last_proc[1]
        self._last_proc = (proc_cpu, now)
        mem = _meminfo()
        mem_total = mem.get("MemTotal", 0)
        mem_used = mem_total - mem.get("MemAvailable", mem.get("MemFree", 0))
        return {
            "cpu_usage": round(cpu, 1),
            "memory_usage": round(100.0 * mem_used / mem_total, 1) if mem_total else 0.0,
            "disk_usage": self._disk_usage(),
            "process_cpu_usage": round(100.0 * d_proc / d_wall, 1) if d_wall > 0 else 0.0,
            "process_memory_bytes": process_rss_bytes(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu_count": os.cpu_count(),
        }

    def _disk_usage(self) -> Optional[float]:
        path = self._disk_path
        while not path.exists() and path != path.parent:
            path = path.parent
        st = os.statvfs(path)
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        return round(100.0 * (total - free) / total, 1) if total else None
