"""The ``media-files`` service: the finalized recordings and snapshots on
disk, indexed so that listing never scans a folder on the reactor thread.

Producers write every file under a dot-name in its folder (recordings
being written live in ``<recordings_dir>/.parts/``), fsync it and rename
it to its final name; then they call :meth:`MediaFiles.added`. Dot-names
and sub-folders are never listed, looked up or served, so a file still
being written is invisible. A scan in a thread at start, and again every
``rescan_interval`` seconds, picks up files that appeared or vanished
without telling (copied in by hand, deleted by an operator).

Which camera made a file: a final name starts with the camera id and an
underscore (``camera0_2025-01-15_14-30-00.mp4``), except custom snapshot
names, which are kept as given. For those, a small sidecar
(``<data_dir>/media-cameras.json``, written atomically) remembers the
camera; files without an entry fall back to their ``cameraN_`` prefix, and
files with neither belong to no camera (only callers allowed every camera
see them).

A file in use (being finalized, downloaded, or read by ffprobe) is
*held*: retention never deletes a held file.
"""
from __future__ import annotations

import json
import os
import re
import stat
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from camservice._defer import async_to_deferred
from camservice.auth.errors import PermissionDenied
from camservice.auth.principal import Principal
from camservice.config.model import MediaConfig
from camservice.fileutil import atomic_write, fsync_dir
from camservice.media.errors import MediaFileNotFound
from camservice.procutil import ProcessFailed, run_checked

__all__ = [
    "KINDS",
    "RECORDINGS",
    "SNAPSHOTS",
    "FileHold",
    "MediaFile",
    "MediaFiles",
    "camera_of",
    "content_type",
    "is_listable_name",
]

RECORDINGS = "recordings"
SNAPSHOTS = "snapshots"
KINDS = (RECORDINGS, SNAPSHOTS)
#: the singular, as errors name a file's kind (``no recording named x``)
_SINGULAR = {RECORDINGS: "recording", SNAPSHOTS: "snapshot"}

_PREFIX = re.compile(r"^(camera[0-9]+)_")

_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mkv": "video/x-matroska",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}

#: seconds ffprobe may take to read a file's duration
PROBE_TIMEOUT = 15.0
_DURATIONS_KEPT = 4096


def content_type(name: str) -> str:
    """The HTTP ``Content-Type`` of a media file, by its extension."""
    return _TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


def camera_of(name: str) -> Optional[str]:
    """The camera a final name says made it (``camera3_...`` -> ``camera3``)."""
    m = _PREFIX.match(name)
    return m.group(1) if m else None


def is_listable_name(name: str) -> bool:
    """Whether ``name`` can be a finalized media file's name: a plain
    name (no ``/``, no NUL), not a dot-name (files being written, ``.``,
    ``..``, ``.parts``), at most 255 bytes in UTF-8."""
    if not name or name.startswith(".") or "/" in name or "\x00" in name:
        return False
    try:
        return len(name.encode("utf-8")) <= 255
    except UnicodeEncodeError:
        return False


@dataclass(frozen=True)
class MediaFile:
    """A finalized file.

    :ivar kind: ``recordings`` or ``snapshots``.
    :ivar size: bytes.
    :ivar mtime: POSIX time of the last write (the rename keeps it).
    :ivar camera_id: the camera that made it, or ``None`` when unknown.
    """

    kind: str
    name: str
    path: Path
    size: int
    mtime: float
    camera_id: Optional[str]

    @property
    def singular(self) -> str:
        return _SINGULAR[self.kind]


class FileHold:
    """A hold on a file (see :meth:`MediaFiles.hold`): call it, or leave
    its ``with`` block, to let go. Letting go twice is harmless."""

    def __init__(self, release: Callable[[], None]):
        self._release: Optional[Callable[[], None]] = release

    def __call__(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> "FileHold":
        return self

    def __exit__(self, *exc) -> None:
        self()


def _scan(folder: Path) -> dict[str, tuple[int, float]]:
    """``{name: (size, mtime)}`` of the regular files directly in
    ``folder`` whose names are listable (runs in a thread); the folder is
    created when missing."""
    found: dict[str, tuple[int, float]] = {}
    try:
        # made here on the first scan when missing (group may read: media
        # is for the administrator too)
        os.makedirs(folder, mode=0o750, exist_ok=True)
    except OSError:
        pass  # scandir below says what is wrong, if anything
    try:
        entries = os.scandir(folder)
    except FileNotFoundError:
        return found
    with entries:
        for entry in entries:
            if not is_listable_name(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISREG(st.st_mode):
                found[entry.name] = (st.st_size, st.st_mtime)
    return found


def _stat_file(path: Path) -> Optional[tuple[int, float]]:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime) if stat.S_ISREG(st.st_mode) else None



def _unlink_all(paths: list[Path]) -> list[Optional[str]]:
    """Delete each path (runs in a thread); per path ``None`` or why not.
    Each folder touched is fsynced once, so the deletions are durable."""
    outcomes: list[Optional[str]] = []
    folders = set()
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            outcomes.append(None)  # gone already: what the caller wanted
        except OSError as e:
            outcomes.append(e.strerror or str(e))
        else:
            outcomes.append(None)
            folders.add(path.parent)
    for folder in folders:
        try:
            fsync_dir(folder)
        except OSError:
            pass  # the unlink happened; only its durability is unsure
    return outcomes


def _read_cameras(path: Path) -> dict[str, dict[str, str]]:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable: fall back to name prefixes
    if not isinstance(document, dict):
        return {}
    return {
        kind: {n: c for n, c in entries.items() if isinstance(n, str) and isinstance(c, str)}
        for kind, entries in document.items()
        if kind in KINDS and isinstance(entries, dict)
    }


class MediaFiles(service.Service):
    """The index of finalized recordings and snapshots.

    :param config: the ``media`` section (its two folders, absolute).
    :param cameras_file: the sidecar naming the camera of files whose
        name does not start with it.
    :param reactor: ``IReactorTime`` (the loop) and ``IReactorProcess``
        (ffprobe).
    :param run_blocking: ``run_blocking(f, *args) -> Deferred`` runs
        blocking work (scans, stats, unlinks, writes) off the reactor thread.
    :param ffprobe: the ffprobe program, for recording durations.
    :param rescan_interval: seconds between scans of both folders.
    """

    log = Logger(namespace="camservice.media.files")

    def __init__(
        self,
        config: MediaConfig,
        cameras_file: Path,
        reactor,
        run_blocking: Callable = threads.deferToThread,
        ffprobe: str = "ffprobe",
        rescan_interval: float = 60.0,
    ):
        self._folders = {RECORDINGS: Path(config.recordings_dir), SNAPSHOTS: Path(config.snapshots_dir)}
        self._cameras_file = Path(cameras_file)
        self._reactor = reactor
        self._run_blocking = run_blocking
        self.ffprobe = ffprobe
        self._rescan_interval = rescan_interval
        self._index: dict[str, dict[str, MediaFile]] = {kind: {} for kind in KINDS}
        #: newest first, rebuilt on the first read after a change
        self._sorted: dict[str, Optional[list[MediaFile]]] = {kind: None for kind in KINDS}
        self._sizes: dict[str, int] = {kind: 0 for kind in KINDS}
        #: per allow list: (the sorted list it was made from, its files)
        self._filtered: dict[str, dict[frozenset, tuple[list, list]]] = {kind: {} for kind in KINDS}
        #: kind -> name -> camera id, for names without the camera's prefix
        self._cameras: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self._holds: dict[tuple[str, str], int] = {}
        #: names added or removed while a scan runs: the scan must not undo them
        self._touched: Optional[dict[str, dict[str, bool]]] = None
        self._durations: "OrderedDict[tuple, Optional[int]]" = OrderedDict()
        self._loop: Optional[task.LoopingCall] = None
        self._scanning: Optional[defer.Deferred] = None
        self._scanned = False
        self._waiters: list[defer.Deferred] = []
        self._scan_waiters: list[defer.Deferred] = []
        self._sidecar_lock = defer.DeferredLock()
        self._sidecar_dirty = False

    # -- life ------------------------------------------------------------

    def folder(self, kind: str) -> Path:
        """The folder of ``kind``."""
        return self._folders[_kind(kind)]

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self._rescan_logged)
        self._loop.clock = self._reactor
        self._loop.start(self._rescan_interval, now=True).addErrback(
            lambda f: self.log.failure("the media file scans stopped", failure=f)
        )

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        # a scan or a sidecar write in a thread finishes on its own; wait for it
        pending = [d for d in (self._scanning,) if d is not None]
        waits = [_quiet(d) for d in pending] + [_quiet(self._sidecar_lock.run(lambda: None))]
        return defer.gatherResults(waits)

    def ready(self) -> defer.Deferred:
        """Fires (with ``None``) once the first scan has finished; at once
        after that. A new Deferred per call."""
        if self._scanned:
            return defer.succeed(None)
        d: defer.Deferred = defer.Deferred()
        self._waiters.append(d)
        return d

    # -- what producers call ---------------------------------------------

    @async_to_deferred
    async def added(self, kind: str, name: str, camera_id: Optional[str] = None) -> MediaFile:
        """A producer renamed a finished file into ``kind``'s folder.

        :param camera_id: the camera that made it; remembered in the
            sidecar when the name does not start with ``<camera_id>_``.
        :returns: a Deferred firing with the indexed :class:`MediaFile`.
        :raises MediaFileNotFound: no regular file of that (listable) name
            is there.
        """
        kind = _kind(kind)
        if not is_listable_name(name):
            raise MediaFileNotFound(_SINGULAR[kind], name)
        figures = await self._run_blocking(_stat_file, self._folders[kind] / name)
        if figures is None:
            raise MediaFileNotFound(_SINGULAR[kind], name)
        if camera_id is not None and camera_of(name) != camera_id:
            self._cameras[kind][name] = camera_id
            self._write_sidecar()
        return self._put(kind, name, *figures)

    def hold(self, kind: str, name: str) -> FileHold:
        """Mark ``name`` in use: retention will not delete it until every
        hold on it is let go. The file need not be indexed yet (a
        producer may hold it before :meth:`added`).

        :returns: a :class:`FileHold` (callable, or a context manager).
        """
        key = (_kind(kind), name)
        self._holds[key] = self._holds.get(key, 0) + 1

        def release() -> None:
            left = self._holds.get(key, 0) - 1
            if left > 0:
                self._holds[key] = left
            else:
                self._holds.pop(key, None)

        return FileHold(release)

    def held(self, kind: str, name: str) -> bool:
        """Whether anything holds ``name``."""
        return (_kind(kind), name) in self._holds

    # -- reading ---------------------------------------------------------

    def files(self, kind: str, principal: Optional[Principal] = None) -> list[MediaFile]:
        """The finalized files of ``kind``, newest first (by mtime, then
        name), those of cameras ``principal`` may not use left out.

        The list is shared: do not change it.
        """
        kind = _kind(kind)
        ordered = self._sorted[kind]
        if ordered is None:
            ordered = self._sorted[kind] = sorted(
                self._index[kind].values(), key=lambda f: (-f.mtime, f.name)
            )
        if principal is None or principal.cameras is None:
            return ordered
        allowed = principal.cameras
        cached = self._filtered[kind].get(allowed)
        if cached is None or cached[0] is not ordered:
            if len(self._filtered[kind]) >= 64:
                self._filtered[kind].clear()
            cached = self._filtered[kind][allowed] = (ordered, [f for f in ordered if f.camera_id in allowed])
        return cached[1]

    def page(
        self, kind: str, principal: Optional[Principal], limit: int, offset: int
    ) -> tuple[list[MediaFile], int]:
        """``(files, total)``: one page of :meth:`files`, and how many
        there are in all."""
        everything = self.files(kind, principal)
        return everything[offset:offset + limit], len(everything)

    def total_size(self, kind: str) -> int:
        """Bytes in ``kind``'s finalized files (as indexed)."""
        return self._sizes[_kind(kind)]

    @async_to_deferred
    async def find(self, kind: str, name: str, principal: Optional[Principal] = None) -> MediaFile:
        """The finalized file ``name`` of ``kind``; a file on disk that
        is not indexed yet (renamed into place a moment ago) is looked up
        and indexed.

        :param principal: the caller; a file of a camera it may not use is
            refused.
        :returns: a Deferred firing with the :class:`MediaFile`.
        :raises MediaFileNotFound: no such finalized file.
        :raises PermissionDenied: the file's camera is not allowed to
            ``principal`` (``camera`` names it; ``None`` if unknown).
        """
        kind = _kind(kind)
        if not is_listable_name(name):
            raise MediaFileNotFound(_SINGULAR[kind], name)
        found = self._index[kind].get(name)
        if found is None:
            figures = await self._run_blocking(_stat_file, self._folders[kind] / name)
            if figures is None:
                raise MediaFileNotFound(_SINGULAR[kind], name)
            found = self._index[kind].get(name) or self._put(kind, name, *figures)
        if principal is not None and principal.cameras is not None and found.camera_id not in principal.cameras:
            raise PermissionDenied(principal.role.name, principal.role.name, found.camera_id or "unknown")
        return found

    # -- deleting --------------------------------------------------------

    @async_to_deferred
    async def delete(self, kind: str, name: str, principal: Optional[Principal] = None) -> MediaFile:
        """Delete a finalized file (in a thread, the folder fsynced).

        :returns: a Deferred firing with the file as it was.
        :raises MediaFileNotFound: no such finalized file.
        :raises PermissionDenied: its camera is not allowed to ``principal``.
        :raises OSError: it could not be deleted (it stays indexed).
        """
        found = await self.find(kind, name, principal)
        (problem,) = await self.remove([found])
        if problem is not None:
            raise OSError(problem)
        return found

    @async_to_deferred
    async def remove(self, files: Iterable[MediaFile]) -> list[Optional[str]]:
        """Take ``files`` out of the index at once (so they are neither
        listed nor served) and delete them in one thread job.

        :returns: a Deferred firing with, per file, ``None`` once it is
            gone or the reason it could not be deleted (such a file is put
            back in the index).
        """
        files = list(files)
        for f in files:
            self._drop(f.kind, f.name)
        outcomes = await self._run_blocking(_unlink_all, [f.path for f in files])
        sidecar_changed = False
        for f, problem in zip(files, outcomes):
            if problem is not None:
                self.log.error("could not delete {kind} {filename}: {reason}",
                               kind=f.kind, filename=f.name, reason=problem)
                self._put(f.kind, f.name, f.size, f.mtime)
            elif self._cameras[f.kind].pop(f.name, None) is not None:
                sidecar_changed = True
        if sidecar_changed:
            self._write_sidecar()
        return outcomes

    # -- durations -------------------------------------------------------

    @async_to_deferred
    async def duration(self, f: MediaFile) -> Optional[int]:
        """The recording's duration in whole seconds, read by ffprobe (as
        a child process, the file held meanwhile) and cached per name,
        size and mtime.

        :returns: a Deferred firing with the seconds, or ``None`` when
            ffprobe cannot tell (it failed, timed out or is missing).
        """
        key = (f.kind, f.name, f.size, f.mtime)
        if key in self._durations:
            self._durations.move_to_end(key)
            return self._durations[key]
        argv = [self.ffprobe, "-v", "error", "-protocol_whitelist", "file", "-show_entries", "format=duration",
                "-of", "json", str(f.path)]
        seconds: Optional[int] = None
        with self.hold(f.kind, f.name):
            try:
                out = await run_checked(self._reactor, argv, PROBE_TIMEOUT)
            except ProcessFailed as e:
                # the same file version gets the same answer: remembered too
                self.log.warn("ffprobe could not read {filename}: {reason}", filename=f.name, reason=str(e))
                out = None
        if out is not None:
            try:
                seconds = int(round(float(json.loads(out)["format"]["duration"])))
            except (ValueError, KeyError, TypeError):
                seconds = None
        self._durations[key] = seconds
        if len(self._durations) > _DURATIONS_KEPT:
            self._durations.popitem(last=False)
        return seconds

    # -- scanning --------------------------------------------------------

    def rescan(self) -> defer.Deferred:
        """Scan both folders now (in a thread) and bring the index in line;
        a scan already running is waited for instead.

        :returns: a Deferred firing with ``None`` once the scan is done,
            or failing as it did (``OSError``: a folder cannot be read).
        """
        d: defer.Deferred = defer.Deferred()
        self._scan_waiters.append(d)
        if self._scanning is None:
            self._scanning = self._scan_all()
            self._scanning.addBoth(self._scan_done)
        return d

    def _scan_done(self, result) -> None:
        self._scanning = None
        self._touched = None
        waiters, self._scan_waiters = self._scan_waiters, []
        ready: list[defer.Deferred] = []
        if not self._scanned:
            # even after a failed scan: listing what is known beats waiting
            self._scanned = True
            ready, self._waiters = self._waiters, []
        for d in waiters:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(None)
        for d in ready:
            d.callback(None)

    def _rescan_logged(self) -> defer.Deferred:
        d = self.rescan()
        d.addErrback(lambda f: self.log.failure("scanning the media folders failed", failure=f))
        return d

    @async_to_deferred
    async def _scan_all(self) -> None:
        self._touched = {kind: {} for kind in KINDS}
        if not self._scanned:
            stored = await self._run_blocking(_read_cameras, self._cameras_file)
            for kind in KINDS:
                for name, camera in stored.get(kind, {}).items():
                    self._cameras[kind].setdefault(name, camera)
        for kind in KINDS:
            found = await self._run_blocking(_scan, self._folders[kind])
            self._merge(kind, found)
        forgotten = False
        for kind in KINDS:
            for name in [n for n in self._cameras[kind] if n not in self._index[kind]]:
                del self._cameras[kind][name]
                forgotten = True
        if forgotten:
            self._write_sidecar()

    def _merge(self, kind: str, found: dict[str, tuple[int, float]]) -> None:
        touched = self._touched[kind] if self._touched is not None else {}
        index = self._index[kind]
        for name in [n for n in index if n not in found and n not in touched]:
            self._drop(kind, name, touch=False)
        for name, (size, mtime) in found.items():
            if name in touched:
                continue  # added or removed while the scan ran: that wins
            current = index.get(name)
            if current is None or (current.size, current.mtime) != (size, mtime):
                self._put(kind, name, size, mtime, touch=False)

    # -- the index -------------------------------------------------------

    def _put(self, kind: str, name: str, size: int, mtime: float, touch: bool = True) -> MediaFile:
        camera = self._cameras[kind].get(name) or camera_of(name)
        f = MediaFile(kind, name, self._folders[kind] / name, size, mtime, camera)
        old = self._index[kind].get(name)
        if old is not None:
            self._sizes[kind] -= old.size
        self._index[kind][name] = f
        self._sizes[kind] += size
        self._sorted[kind] = None
        if touch and self._touched is not None:
            self._touched[kind][name] = True
        return f

    def _drop(self, kind: str, name: str, touch: bool = True) -> None:
        old = self._index[kind].pop(name, None)
        if old is not None:
            self._sizes[kind] -= old.size
            self._sorted[kind] = None
        if touch and self._touched is not None:
            self._touched[kind][name] = False

    def _write_sidecar(self) -> None:
        """Persist the camera sidecar; writes requested while one runs
        are coalesced into one more."""
        if self._sidecar_dirty:
            return
        self._sidecar_dirty = True

        def write():
            self._sidecar_dirty = False
            data = json.dumps({kind: dict(sorted(self._cameras[kind].items())) for kind in KINDS},
                              indent=1).encode()
            return self._run_blocking(atomic_write, self._cameras_file, data, 0o640)

        self._sidecar_lock.run(write).addErrback(
            lambda f: self.log.failure("could not write {path}", failure=f, path=str(self._cameras_file))
        )


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    return kind


def _quiet(d: defer.Deferred) -> defer.Deferred:
    return d.addErrback(lambda _f: None)
