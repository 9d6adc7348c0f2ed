"""``list_recordings``, ``list_snapshots``, ``get_recording_info``,
``get_snapshot_info``, ``delete_recording``, ``delete_snapshot`` and
``get_download_url``: thin calls into the file index
(:mod:`camservice.media.files`) and the download tokens
(:mod:`camservice.media.file_tokens`).

A caller with a camera allow list sees, reads and deletes only the files
of its cameras. ``download_url`` is a path on the API's own origin
(``/files/recordings/<name>``, the name URL-quoted): a client resolves it
against the ``http(s)://host:port`` it reached the WebSocket on.
``get_download_url`` adds a short-lived ``token`` for the one file, for
a client that can only follow a link (a browser's download).
"""
from __future__ import annotations

from typing import Callable, Optional
from urllib.parse import quote

from camservice.auth.errors import PermissionDenied
from camservice.auth.roles import Role
from camservice.media.file_tokens import FileTokens
from camservice.media.files import KINDS, RECORDINGS, SNAPSHOTS, MediaFile, MediaFiles
from camservice.rpc.audit import Audit
from camservice.rpc.dispatcher import Call
from camservice.rpc.errors import InvalidParams
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import FILENAME, LIMIT, OFFSET
from camservice.timeutil import iso_timestamp

__all__ = ["FileMethods", "download_path"]

DEFAULT_LIMIT = 50
_ENTRIES_KEPT = 50_000
_PAGE = object_schema({"limit": LIMIT, "offset": OFFSET})
_NAMED = object_schema({"filename": FILENAME}, ["filename"])
_KIND = {"type": "string", "enum": list(KINDS)}
_DOWNLOAD = object_schema({"filename": FILENAME, "kind": _KIND}, ["filename", "kind"])


def download_path(kind: str, name: str) -> str:
    """The HTTP path serving the file (see :mod:`camservice.server.files`)."""
    return f"/files/{kind}/{quote(name, safe='')}"


def _filename(params: dict) -> str:
    """The ``filename`` param, also held to API.md's 255 *bytes*."""
    name = params["filename"]
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidParams(param="filename", rule="valid UTF-8", reason="filename is not valid text",
                            hint="send a plain file name")
    if size > 255:
        raise InvalidParams(param="filename", rule="at most 255 bytes", reason="filename is too long",
                            hint="file names are at most 255 bytes in UTF-8")
    return name


class FileMethods:
    """Recordings and snapshots on disk.

    :param files: the file index.
    :param url_for: ``url_for(kind, name) -> str``, the ``download_url``
        (default: :func:`download_path`).
    :param audit: records a caller refused another camera's file (as the
        dispatcher records its own camera denials).
    :param tokens: mints download tokens (``get_download_url`` is offered
        only with them).
    """

    def __init__(self, files: MediaFiles, url_for: Callable[[str, str], str] = download_path,
                 audit: Optional[Audit] = None, tokens: Optional[FileTokens] = None):
        self._files = files
        self._url_for = url_for
        self._audit = audit
        self._tokens = tokens
        self._entries: dict[MediaFile, dict] = {}

    def specs(self) -> list[MethodSpec]:
        page = {"limit": 10, "offset": 0}
        recording = {"filename": "camera1000_2025-01-15_14-30-00.mp4"}
        snapshot = {"filename": "camera1000_2025-01-15_14-30-00.jpg"}
        return [
            MethodSpec("list_recordings", self.list_recordings, Role.viewer, _PAGE,
                       summary="Finalized recordings, newest first, one page.", example=page),
            MethodSpec("list_snapshots", self.list_snapshots, Role.viewer, _PAGE,
                       summary="Snapshots, newest first, one page.", example=page),
            MethodSpec("get_recording_info", self.get_recording_info, Role.viewer, _NAMED,
                       summary="One recording: size, duration (ffprobe), time, download URL.",
                       example=recording),
            MethodSpec("get_snapshot_info", self.get_snapshot_info, Role.viewer, _NAMED,
                       summary="One snapshot: size, time, download URL.", example=snapshot),
            MethodSpec("delete_recording", self.delete_recording, Role.admin, _NAMED, audit=("filename",),
                       summary="Delete a finalized recording.", example=recording),
            MethodSpec("delete_snapshot", self.delete_snapshot, Role.admin, _NAMED, audit=("filename",),
                       summary="Delete a snapshot.", example=snapshot),
        ] + ([
            MethodSpec("get_download_url", self.get_download_url, Role.viewer, _DOWNLOAD, version="1.4",
                       summary="A short-lived URL downloading one file, for clients that can only follow a link.",
                       example=dict(recording, kind=RECORDINGS)),
        ] if self._tokens is not None else [])

    # -- lists -----------------------------------------------------------

    async def _list(self, kind: str, call: Call, params: dict) -> dict:
        limit = params.get("limit", DEFAULT_LIMIT)
        offset = params.get("offset", 0)
        await self._files.ready()
        files, total = self._files.page(kind, call.principal, limit, offset)
        return {
            "files": [self._entry(f) for f in files],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    def _entry(self, f: MediaFile) -> dict:
        """``f`` as lists show it; made once per file version (a page of
        1000 then costs little more than its encoding)."""
        entry = self._entries.get(f)
        if entry is None:
            if len(self._entries) >= _ENTRIES_KEPT:
                self._entries.clear()
            entry = self._entries[f] = {
                "filename": f.name,
                "file_size": f.size,
                "modified_time": iso_timestamp(f.mtime),
                "download_url": self._url_for(f.kind, f.name),
            }
        return entry

    def list_recordings(self, call: Call, params: dict):
        return self._list(RECORDINGS, call, params)

    def list_snapshots(self, call: Call, params: dict):
        return self._list(SNAPSHOTS, call, params)

    # -- one file --------------------------------------------------------

    async def _find(self, kind: str, call: Call, params: dict) -> MediaFile:
        name = _filename(params)
        await self._files.ready()
        try:
            return await self._files.find(kind, name, call.principal)
        except PermissionDenied as e:
            self._denied(call, e)
            raise

    def _denied(self, call: Call, e: PermissionDenied) -> None:
        if self._audit is not None:
            self._audit.denied(call.session, call.request_id, call.method, call.principal, e.required_role, e.camera)

    def _info(self, f: MediaFile) -> dict:
        return {
            "filename": f.name,
            "file_size": f.size,
            # a finalized file is written once (renamed into place whole):
            # its modification time is when it was made
            "created_time": iso_timestamp(f.mtime),
            "download_url": self._url_for(f.kind, f.name),
        }

    async def get_recording_info(self, call: Call, params: dict) -> dict:
        f = await self._find(RECORDINGS, call, params)
        info = self._info(f)
        info["duration"] = await self._files.duration(f)
        return {k: info[k] for k in ("filename", "file_size", "duration", "created_time", "download_url")}

    async def get_snapshot_info(self, call: Call, params: dict) -> dict:
        return self._info(await self._find(SNAPSHOTS, call, params))

    async def get_download_url(self, call: Call, params: dict) -> dict:
        f = await self._find(params["kind"], call, params)
        principal = call.principal
        # the link expires with the credential that asked for it, if sooner
        token, expires = self._tokens.mint(f.kind, f.name, principal.user_id, principal.role,
                                           key_id=principal.key_id, not_after=principal.expires_at)
        return {
            "filename": f.name,
            "kind": f.kind,
            "url": f"{self._url_for(f.kind, f.name)}?token={token}",
            "expires_at": iso_timestamp(expires),
            "ttl": self._tokens.seconds_left(expires),
        }

    # -- deleting --------------------------------------------------------

    async def _delete(self, kind: str, call: Call, params: dict) -> dict:
        name = _filename(params)
        await self._files.ready()
        try:
            f = await self._files.delete(kind, name, call.principal)
        except PermissionDenied as e:
            self._denied(call, e)
            raise
        return {"filename": f.name, "deleted": True, "message": f"{f.singular} {f.name} deleted"}

    def delete_recording(self, call: Call, params: dict):
        return self._delete(RECORDINGS, call, params)

    def delete_snapshot(self, call: Call, params: dict):
        return self._delete(SNAPSHOTS, call, params)
