"""Finding and ending the processes that publish a camera's stream.

MediaMTX starts a USB or virtual camera's FFmpeg publisher itself
(``runOnDemand``) and stops it with SIGINT only, waiting for it to exit: a
publisher that hangs (stopped, or stuck in a driver) is never replaced. So
camservice finds it by the publish URL on its command line (camservice
wrote that command line, see :mod:`camservice.mediamtx.sources`) and ends
it with SIGKILL, which a stopped process cannot ignore.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["kill_publishers", "publisher_pids"]


def _is_publisher_of(argv: list[bytes], url: bytes) -> bool:
    """Whether ``argv`` publishes to ``url`` (the last argument of our
    publish commands, possibly with a ``?token=`` query)."""
    return bool(argv) and (argv[-1] == url or argv[-1].startswith(url + b"?"))


def publisher_pids(url: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids of this user's processes publishing to ``url`` (blocking: run
    it in a thread)."""
    wanted, uid = url.encode(), os.geteuid()
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if _is_publisher_of(argv, wanted):
            pids.append(int(entry.name))
    return sorted(pids)


def kill_publishers(url: str, proc: Path = Path("/proc")) -> list[int]:
    """SIGKILL every process publishing to ``url``; the pids signalled
    (blocking: run it in a thread)."""
    killed = []
    for pid in publisher_pids(url, proc):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.append(pid)
    return killed
