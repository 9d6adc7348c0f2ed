"""Snapshots: one JPEG of a camera, stored in the snapshots folder.

A snapshot is captured to memory first (:mod:`camservice.media.capture`),
then written to a temporary dot-name in the snapshots folder, fsynced and
linked into place under its final name, and the folder fsynced: a name is
never visible before its file is complete, and linking (unlike renaming)
fails when the name exists, so no race can overwrite a snapshot either.
"""
from __future__ import annotations

import os
import errno
import re
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import quote

from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.config.model import MediaConfig
from camservice.events import EventBus
from camservice.fileutil import ensure_dir, fsync_dir
from camservice.media.capture import FrameCapture
from camservice.media.errors import CaptureFailed, InvalidMediaName, MediaFileExists, StorageCritical
from camservice.timeutil import iso_timestamp

__all__ = ["DOWNLOAD_PREFIX", "SnapshotService", "default_name", "snapshot_name", "store_snapshot"]

#: where the API port serves snapshots; ``file_path`` in replies is this
#: plus the file name (the server's folders are never shown)
DOWNLOAD_PREFIX = "/files/snapshots/"

#: most same-second snapshots of one camera told apart by ``_N``
MAX_SAME_SECOND = 1000

_MAX_NAME_BYTES = 255
_JPEG_SUFFIXES = (".jpg", ".jpeg")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def snapshot_name(name: str) -> str:
    """A client's file name, checked and ending in ``.jpg`` (added when it
    ends neither in ``.jpg`` nor ``.jpeg``, in any case).

    :raises InvalidMediaName: not a plain name (a ``/``, ``..``, NUL or
        another control character, a leading dot, empty) or longer than
        255 bytes once ``.jpg`` is added.
    """
    if not name:
        raise InvalidMediaName("filename", "must not be empty")
    if "/" in name or "\\" in name:
        raise InvalidMediaName("filename", "must be a plain name (no / or \\)")
    if _CONTROL.search(name):
        raise InvalidMediaName("filename", "must not contain NUL or control characters")
    if name.startswith("."):
        raise InvalidMediaName("filename", "must not start with a dot")
    if not name.lower().endswith(_JPEG_SUFFIXES):
        name += ".jpg"
    if len(name.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        raise InvalidMediaName("filename", f"must be at most {_MAX_NAME_BYTES} bytes (with .jpg)")
    return name


def default_name(camera_id: str, seconds: float, n: int = 0) -> str:
    """``camera0_2025-01-15_14-30-00.jpg`` (UTC), ``..._1.jpg`` for the
    second snapshot of that second."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime(int(seconds)))
    return f"{camera_id}_{stamp}{'_' + str(n) if n else ''}.jpg"



def store_snapshot(folder: Path, names: list[str], jpeg: bytes) -> tuple[str, int]:
    """Write ``jpeg`` under the first of ``names`` that is free (blocking:
    run it in a thread).

    The bytes go to a temporary dot-name, are fsynced, then linked to the
    name: a link fails where a name exists, so nothing is overwritten.

    :returns: ``(name, size)``.
    :raises MediaFileExists: every name is taken.
    :raises OSError: the folder cannot be written (``ENOSPC``...).
    """
    ensure_dir(folder, 0o750)
    fd, tmp = tempfile.mkstemp(prefix=".snapshot-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o640)
            f.write(jpeg)
            f.flush()
            os.fsync(f.fileno())
        for name in names:
            try:
                os.link(tmp, folder / name)
            except FileExistsError:
                continue
            fsync_dir(folder)
            return name, len(jpeg)
        raise MediaFileExists("snapshot", names[0])
    finally:
        os.unlink(tmp)


def _exists(folder: Path, name: str) -> bool:
    return os.path.lexists(folder / name)


class SnapshotService:
    """Takes snapshots.

    :param config: the ``media`` section (``snapshots_dir``).
    :param capture: captures the frame.
    :param streamable: ``streamable(camera_id) -> Camera`` (the stream
        manager's: raises for an unknown, unstreamable or disconnected
        camera).
    :param bus: ``snapshot.taken`` goes out on it.
    :param clock: ``IReactorTime``; ``seconds()`` is POSIX time.
    :param run_blocking: ``run_blocking(f, *args) -> Deferred`` (a thread:
        writes, fsyncs, links).
    :param files: told of every new snapshot: ``files.added(kind, name,
        camera_id) -> Deferred`` with kind ``snapshots``; ``None``: nobody.
    :param storage: asked before each capture: ``storage.check_writable()
        -> Deferred`` failing with ``StorageCritical``; ``None``: never
        refused.
    """

    log = Logger(namespace="camservice.media.snapshots")

    def __init__(
        self,
        config: MediaConfig,
        capture: FrameCapture,
        streamable: Callable,
        bus: EventBus,
        clock,
        run_blocking: Callable,
        files=None,
        storage=None,
    ):
        self.config = config
        self._capture = capture
        self._streamable = streamable
        self._bus = bus
        self._clock = clock
        self._run_blocking = run_blocking
        self._files = files
        self._storage = storage

    def configure(self, config: MediaConfig) -> None:
        """Store snapshots by this section from now on (a reload)."""
        self.config = config

    @property
    def folder(self) -> Path:
        return Path(self.config.snapshots_dir)

    @async_to_deferred
    async def take(self, camera_id: str, filename: Optional[str] = None) -> dict:
        """Capture and store one snapshot of ``camera_id``.

        :param filename: the name to store it under (``.jpg`` added when
            missing); default ``<camera>_<YYYY-MM-DD_HH-MM-SS>.jpg`` in
            UTC, ``_N`` added for more than one in a second.
        :returns: a Deferred firing, once the file is complete and
            durable, with ``{device, filename, status: SUCCESS, timestamp,
            file_size, file_path}``; ``file_path`` is the download path
            (:data:`DOWNLOAD_PREFIX` and the name, URL-encoded).
        :raises InvalidMediaName: ``filename`` is not acceptable.
        :raises MediaFileExists: a file of that name exists (never
            overwritten).
        :raises UnknownCamera, NotStreamable, CameraNotConnected: see
            :meth:`camservice.media.streams.StreamManager.streamable`.
        :raises StorageCritical: the disk is too full (said by
            ``storage``, or by the write).
        :raises CaptureFailed, MediaMTXUnavailable: see
            :meth:`FrameCapture.capture`.
        """
        camera = self._streamable(camera_id)
        name = snapshot_name(filename) if filename is not None else None
        folder = self.folder
        if name is not None and await self._run_blocking(_exists, folder, name):
            raise MediaFileExists("snapshot", name)  # before spending a capture on it
        if self._storage is not None:
            await self._storage.check_writable()
        frame = await self._capture.capture(camera)
        if name is not None:
            names = [name]
        else:
            names = [default_name(camera.id, frame.taken_at, n) for n in range(MAX_SAME_SECOND)]
        try:
            stored, size = await self._run_blocking(store_snapshot, folder, names, frame.jpeg)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageCritical("no space left for the snapshot")
            raise CaptureFailed(camera.id, f"cannot write the snapshot: {e.strerror}")
        self.log.info("snapshot {filename} of {camera_id} taken ({file_size} bytes, from {source})",
                      filename=stored, camera_id=camera.id, file_size=size, source=frame.source)
        if self._files is not None:
            try:
                await self._files.added("snapshots", stored, camera.id)
            except Exception:
                # the file is complete and durable: the index catches up
                # at its next scan
                self.log.failure("the file index was not told of {filename}", filename=stored)
        self._bus.publish("snapshot.taken", device=camera.id, filename=stored, file_size=size)
        return {
            "device": camera.id,
            "filename": stored,
            "status": "SUCCESS",
            "timestamp": iso_timestamp(frame.taken_at),
            "file_size": size,
            "file_path": DOWNLOAD_PREFIX + quote(stored),
        }
