"""The optional log file: JSON lines, rotated by size and time, rotated
files gzipped and capped in total.

Nothing here runs on the reactor thread but :meth:`LogFileWriter.write_line`,
which only puts a line on a queue. A writer thread appends the lines and
rotates (a rename); a second thread compresses rotated files and deletes the
oldest ones past the caps, so a slow disk or a large gzip delays neither the
reactor nor the lines that follow.
"""
from __future__ import annotations

import gzip
import os
import queue
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer
from twisted.logger import ILogObserver, Logger, LogLevel
from zope.interface import implementer

from camservice.config.model import LoggingConfig
from camservice.errors import StartupError
from camservice.logs import json_line

__all__ = ["LogFileObserver", "LogFileService", "LogFileWriter", "RotatingFile", "rotated_files"]

_STOP = object()
#: Lines a writer holds before it drops new ones (a disk that hangs must
#: not grow the service's memory without bound).
MAX_QUEUED = 100_000
_BATCH = 512


def _stamp(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def rotated_files(path: Path) -> list[Path]:
    """The rotated siblings of ``path``, oldest first.

    They are named ``<name>.<UTC time>[-N][.gz]``.
    """
    pattern = re.compile(re.escape(path.name) + r"\.(\d{8}T\d{6}Z)(?:-(\d+))?(\.gz)?$")
    found = []
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return []
    for entry in entries:
        m = pattern.match(entry.name)
        if m and entry.is_file(follow_symlinks=False):
            found.append(((m.group(1), int(m.group(2) or 0)), Path(entry.path)))
    return [p for _, p in sorted(found)]


class RotatingFile:
    """A log file and its rotated siblings; used by one thread at a time.

    :param path: the live file; its folder is created (0750) if missing.
    :param config: the ``logging`` section (``max_size``,
        ``rotate_interval``, ``keep``, ``total_size``, ``compress``).
    :param now: wall-clock seconds (POSIX), for time-based rotation and
        the rotated files' names.
    :param after_rotation: ``after_rotation(job)`` runs ``job()`` (compress
        and cap) somewhere; by default at once, in the calling thread.
    """

    def __init__(
        self,
        path: Path,
        config: LoggingConfig,
        now: Callable[[], float] = time.time,
        after_rotation: Optional[Callable[[Callable[[], None]], None]] = None,
    ):
        self.path = Path(path)
        self.config = config
        self._now = now
        self._after_rotation = after_rotation or (lambda job: job())
        self._file = None
        self._size = 0
        self._next_rotation: Optional[float] = None

    def configure(self, config: LoggingConfig) -> None:
        """Use new limits from the next line on (the path stays)."""
        self.config = config
        self._next_rotation = self._boundary_after(self._opened_at) if self._file is not None else None

    def _boundary_after(self, seconds: float) -> Optional[float]:
        interval = self.config.rotate_interval
        if not interval:
            return None
        return (seconds // interval + 1) * interval

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._file = os.fdopen(fd, "ab")
        st = os.fstat(fd)
        self._size = st.st_size
        # a file left by the last run counts from its last write
        self._opened_at = st.st_mtime if st.st_size else self._now()
        self._next_rotation = self._boundary_after(self._opened_at)

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines), rotating first if it is due."""
        if self._file is None:
            self._open()
        if self._size and self._due(len(data)):
            self.rotate()
        self._file.write(data)
        self._size += len(data)

    def _due(self, incoming: int) -> bool:
        max_size = self.config.max_size
        if max_size and self._size + incoming > max_size:
            return True
        return self._next_rotation is not None and self._now() >= self._next_rotation

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def rotate(self) -> Path:
        """Rename the live file aside and start a new one; returns the
        rotated file's path (before compression)."""
        self.close()
        stamp = _stamp(self._now())
        target = self.path.with_name(f"{self.path.name}.{stamp}")
        n = 0
        while target.exists() or target.with_name(target.name + ".gz").exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.{stamp}-{n}")
        os.rename(self.path, target)
        self._open()
        self._after_rotation(lambda: self.finish_rotation(target))
        return target

    def finish_rotation(self, rotated: Path) -> None:
        """Compress ``rotated`` (if configured), then delete the oldest
        rotated files past ``keep`` and ``total_size``."""
        if self.config.compress and rotated.exists():
            compress(rotated)
        self.enforce_cap()

    def enforce_cap(self) -> list[Path]:
        """Delete the oldest rotated files until at most ``keep`` remain
        and all files together take at most ``total_size`` bytes; returns
        the deleted ones."""
        rotated = rotated_files(self.path)
        sizes = {}
        for p in rotated:
            try:
                sizes[p] = p.stat().st_size
            except FileNotFoundError:
                sizes[p] = 0
        try:
            live = self.path.stat().st_size
        except FileNotFoundError:
            live = 0
        total = live + sum(sizes.values())
        deleted = []
        while rotated and (len(rotated) > self.config.keep or total > self.config.total_size):
            oldest = rotated.pop(0)
            try:
                oldest.unlink()
            except FileNotFoundError:
                pass
            total -= sizes[oldest]
            deleted.append(oldest)
        return deleted


def compress(path: Path) -> Path:
    """gzip ``path`` to ``path.gz`` (atomically: a temporary name, then a
    rename) and delete ``path``."""
    target = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.chmod(tmp, 0o640)
    os.rename(tmp, target)
    path.unlink()
    return target


class _Call:
    """A function the writer thread runs between two lines."""

    def __init__(self, fn: Callable[[], None]):
        self.fn = fn


class _Worker:
    """A thread running queued jobs in order."""

    def __init__(self, name: str, run: Callable[[object], bool], q: "queue.Queue"):
        self._run = run
        self.queue = q
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        while True:
            if not self._run(self.queue.get()):
                return


class LogFileWriter:
    """Lines from any thread to a :class:`RotatingFile`, off that thread.

    Lines queue up until :meth:`start` (twistd may fork between the start
    of logging and the start of the services, and threads do not survive a
    fork); after :meth:`stop` they are written at once by the caller, so
    the last words of a shutdown are kept.

    :param path: the live log file.
    :param config: the ``logging`` section (limits).
    :param now: wall-clock seconds, for rotation.
    :ivar file: the :class:`RotatingFile`; only the writer thread touches
        it while running.
    """

    def __init__(
        self,
        path: Path,
        config: LoggingConfig,
        now: Callable[[], float] = time.time,
        max_queued: int = MAX_QUEUED,
    ):
        self._lines: "queue.Queue" = queue.Queue(max_queued)
        self._jobs: "queue.Queue" = queue.Queue()
        self._now = now
        self.file = RotatingFile(path, config, now=now, after_rotation=self._jobs.put)
        self._writer = _Worker("camservice-log-writer", self._write_batch, self._lines)
        self._compressor = _Worker("camservice-log-compressor", self._run_job, self._jobs)
        self._lock = threading.Lock()  # the file
        self._state_lock = threading.Lock()  # the state and the queue's end
        self._state = "queued"  # then "running", then "stopped"
        self.dropped = 0
        self.errors = 0

    def write_line(self, line: str) -> None:
        """Write one line (without its newline) from any thread."""
        data = line.encode("utf-8") + b"\n"
        with self._state_lock:
            if self._state != "stopped":
                try:
                    self._lines.put_nowait(data)
                except queue.Full:
                    self.dropped += 1
                return
        with self._lock:
            self._write_now(data)

    def _write_now(self, data: bytes, flush: bool = True) -> None:
        try:
            self.file.write(data)
            if flush:
                self.file.flush()
        except OSError:
            self.errors += 1

    def _run_now(self, call: "_Call") -> None:
        try:
            self.file.flush()
            call.fn()
        except OSError:
            self.errors += 1

    def reconfigure(self, config: LoggingConfig) -> None:
        """Use ``config`` from the next line on, in the writer's order: new
        limits, or a new ``file`` (the old one is closed, not moved)."""
        self._submit(_Call(lambda: self._reconfigure(config)))

    def _reconfigure(self, config: LoggingConfig) -> None:
        if config.file is not None and Path(config.file) != self.file.path:
            self.file.close()
            self.file = RotatingFile(config.file, config, now=self._now, after_rotation=self._jobs.put)
        else:
            self.file.configure(config)

    def _submit(self, call: "_Call") -> None:
        with self._state_lock:
            if self._state != "stopped":
                try:
                    self._lines.put_nowait(call)
                    return
                except queue.Full:
                    pass
        with self._lock:
            self._run_now(call)

    def start(self) -> None:
        """Start the writer and compressor threads."""
        if self._state != "queued":
            return
        self._state = "running"
        self._writer.thread.start()
        self._compressor.thread.start()

    def _write_batch(self, first) -> bool:
        items = [first]
        while len(items) < _BATCH and items[-1] is not _STOP:
            try:
                items.append(self._lines.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            for item in items:
                if item is _STOP:
                    break
                if isinstance(item, _Call):
                    self._run_now(item)
                else:
                    self._write_now(item, flush=False)
            # the lines dropped came after those queued
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                self._write_now(json_line({
                    "log_time": self._now(),
                    "log_level": LogLevel.warn,
                    "log_namespace": "camservice.ops.logfile",
                    "log_format": "{dropped} log lines dropped: the log file fell behind",
                    "dropped": dropped,
                }).encode("utf-8") + b"\n", flush=False)
            try:
                self.file.flush()
            except OSError:
                self.errors += 1
            if items[-1] is _STOP:
                self.file.close()
                return False
        return True

    def _run_job(self, job) -> bool:
        if job is _STOP:
            return False
        try:
            job()
        except OSError:
            self.errors += 1
        return True

    def stop(self, on_stopped: Callable[[], None] = lambda: None) -> None:
        """Write what is queued, finish the compressions, close the file;
        then call ``on_stopped()`` in the writer's last thread. Lines
        written after this go straight to the file."""
        with self._state_lock:
            state = self._state
            if state == "queued":
                self._state = "stopped"
        if state == "queued":
            # never started: write the backlog here
            self._drain()
            while True:
                try:
                    self._run_job(self._jobs.get_nowait())
                except queue.Empty:
                    break
            on_stopped()
            return
        if state == "stopped":
            on_stopped()
            return

        def wait():
            self._writer.thread.join()
            with self._state_lock:
                self._state = "stopped"
            # lines that came after the writer's last batch
            self._drain()
            self._jobs.put(_STOP)
            self._compressor.thread.join()
            on_stopped()

        self._lines.put(_STOP)
        threading.Thread(target=wait, name="camservice-log-stop", daemon=True).start()

    def _drain(self) -> None:
        with self._lock:
            while True:
                try:
                    item = self._lines.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Call):
                    self._run_now(item)
                elif item is not _STOP:
                    self._write_now(item, flush=False)
            try:
                self.file.flush()
            except OSError:
                self.errors += 1


@implementer(ILogObserver)
class LogFileObserver:
    """Log events as JSON lines (as on stdout) into a :class:`LogFileWriter`."""

    def __init__(self, writer: LogFileWriter):
        self._writer = writer

    def __call__(self, event: dict) -> None:
        self._writer.write_line(json_line(event))


class LogFileService(service.Service):
    """The ``log-file`` child: runs the writer threads while the service
    runs. It is the first child, so it stops last and keeps the other
    children's last lines.

    :param config: the ``logging`` section; ``file`` must be set.
    :param reactor: ``IReactorThreads`` and ``IReactorTime``.
    :param now: wall clock for rotation (tests inject one).
    :ivar observer: the log observer writing to the file.
    """

    log = Logger()

    def __init__(self, config: LoggingConfig, reactor, now: Callable[[], float] = time.time, stop_timeout: float = 10.0):
        if config.file is None:
            raise ValueError("logging.file is not set")
        self.config = config
        self._reactor = reactor
        self._stop_timeout = stop_timeout
        self.writer = LogFileWriter(config.file, config, now=now)
        self.observer = LogFileObserver(self.writer)

    def apply(self, config: LoggingConfig) -> None:
        """Use ``config`` from the next line on: new limits, or a new
        ``file`` (the old one is closed where it is). Turning the file off
        altogether is the tree's business (this child goes away)."""
        if config.file is None:
            raise ValueError("logging.file is not set")
        self.config = config
        self.writer.reconfigure(config)

    def startService(self) -> None:
        path = self.config.file
        try:
            # fail at start, loudly, rather than lose every line quietly
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640))
        except OSError as e:
            raise StartupError(f"logging.file {path}: cannot write it: {e.strerror}") from None
        super().startService()
        self.writer.start()
        self.log.info("logging to {path} too", path=str(self.config.file))

    def stopService(self) -> defer.Deferred:
        super().stopService()
        d = defer.Deferred()
        self.writer.stop(lambda: self._reactor.callFromThread(d.callback, None))
        d.addTimeout(self._stop_timeout, self._reactor)
        d.addErrback(lambda f: f.trap(defer.TimeoutError))
        return d
