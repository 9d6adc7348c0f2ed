"""``GET /files/recordings/{name}`` and ``GET /files/snapshots/{name}``
on the API port.

- Credentials in ``Authorization: Bearer <JWT or API key>`` or
  ``X-API-Key``; viewer role; a caller with a camera allow list reads only
  its cameras' files. Never credentials in the URL: a link (a browser's
  download) carries instead a download token for that one file
  (``?token=ft1...``, from ``get_download_url``, minted once the caller was
  found to be allowed the file; :mod:`camservice.media.file_tokens`).
- ``401`` without valid credentials (or with a token that is malformed,
  changed or expired, or whose API key was revoked since), ``403`` for a
  role or camera not allowed or a token for another file, ``404`` for no
  such finalized file (files being written are dot-names or under
  ``.parts/`` and never served), ``400`` for a name that is not a plain
  name (``..``, an encoded ``/``, NUL, more than 255 bytes, more path
  segments), ``405`` for methods other than GET and HEAD.
- The body is :class:`twisted.web.static.File`'s: ``Range`` requests
  (``206``, ``416``), ``Content-Length``, ``Last-Modified``, streamed by a
  producer; plus the right ``Content-Type`` and ``Content-Disposition:
  attachment``. The file is held while it is sent, so retention leaves it.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from twisted.logger import Logger
from twisted.web import server
from twisted.web.resource import Resource

from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import PermissionDenied
from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.media.errors import MediaFileNotFound
from camservice.media.file_tokens import FileTokenRefused, FileTokens
from camservice.media.files import KINDS, MediaFiles, content_type, is_listable_name
from camservice.security.networks import client_ip
from camservice.server.credentials import HeaderRefusal, header_principal

__all__ = ["FilesResource"]

_log = Logger(namespace="camservice.server.files")


def _disposition(name: str) -> bytes:
    """``attachment`` with the name, ASCII-safe and as RFC 6266's
    ``filename*`` for the rest."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}".encode("ascii")


class FilesResource(Resource):
    """``/files``: one child per kind.

    :param audit: records refusals (a :class:`camservice.rpc.audit.Audit`).
    :param tokens: checks download tokens (without them only header
        credentials are accepted).
    """

    def __init__(self, files: MediaFiles, authenticator: Authenticator, audit,
                 tokens: Optional[FileTokens] = None):
        super().__init__()
        for kind in KINDS:
            self.putChild(kind.encode("ascii"), _KindResource(kind, files, authenticator, audit, tokens))

    def render(self, request):
        return _plain(request, 404, "not found")


class _KindResource(Resource):
    """``/files/<kind>``: the file named by the next path segment."""

    def __init__(self, kind: str, files: MediaFiles, authenticator: Authenticator, audit,
                 tokens: Optional[FileTokens]):
        super().__init__()
        self._kind = kind
        self._files = files
        self._authenticator = authenticator
        self._audit = audit
        self._tokens = tokens

    def getChild(self, path: bytes, request):
        return _FileResource(self._kind, path, self._files, self._authenticator, self._audit, self._tokens)

    def render(self, request):
        return _plain(request, 404, "not found")


class _FileResource(Resource):
    isLeaf = True

    def __init__(self, kind: str, segment: bytes, files: MediaFiles, authenticator: Authenticator, audit,
                 tokens: Optional[FileTokens]):
        super().__init__()
        self._kind = kind
        self._segment = segment
        self._files = files
        self._authenticator = authenticator
        self._audit = audit
        self._tokens = tokens

    def render(self, request):
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"Allow", b"GET, HEAD")
            return _plain(request, 405, "only GET and HEAD")
        try:
            principal = header_principal(request, self._authenticator, Role.viewer)
        except HeaderRefusal as refusal:
            return self._refuse(request, refusal.code, refusal.reason, refusal.user_id)
        token = (request.args.get(b"token") or [b""])[-1] if self._tokens is not None else b""
        holder = None
        if principal is None and not token:
            return self._refuse(request, 401, "credentials required", None)
        if principal is None:
            try:
                holder = self._tokens.verify(token.decode("ascii", "replace"))
            except FileTokenRefused as e:
                return self._refuse(request, 401, e.reason, None)
            if holder.key_id is not None and not self._authenticator.keys.holds(holder.key_id):
                # a link dies with the API key that asked for it
                return self._refuse(request, 401, "the API key of this download link was revoked", holder.user_id)
            # the caller was allowed the file when the token was minted
            principal = Principal(holder.user_id, holder.role, None, method="download_token")
        who = principal.user_id
        try:
            # twisted.web has already percent-decoded the segment: an
            # encoded "/" shows here as a "/"
            name = self._segment.decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse(request, 400, "the file name is not UTF-8", who)
        if request.postpath or name in ("", ".", "..") or "/" in name or "\\" in name \
                or any(ord(c) < 32 or ord(c) == 127 for c in name) or len(self._segment) > 255:
            return self._refuse(request, 400, "not a plain file name", who)
        if holder is not None:
            try:
                self._tokens.check_file(holder, self._kind, name)
            except FileTokenRefused as e:
                return self._refuse(request, 403, e.reason, who)
        if not is_listable_name(name):
            return _plain(request, 404, "no such file")
        d = self._files.find(self._kind, name, principal)
        d.addCallbacks(self._send, self._refused, callbackArgs=(request,), errbackArgs=(request, principal))
        d.addErrback(self._broken, request)
        return server.NOT_DONE_YET

    def _send(self, found, request) -> None:
        if request._disconnected:
            return
        hold = self._files.hold(found.kind, found.name)
        request.notifyFinish().addBoth(lambda _: hold())
        body = _static_file(str(found.path))
        body.type, body.encoding = content_type(found.name), None
        request.setHeader(b"Content-Disposition", _disposition(found.name))
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Cache-Control", b"private, no-store")
        result = body.render(request)
        if result is not server.NOT_DONE_YET:
            request.write(result)
            request.finish()

    def _refused(self, failure, request, principal) -> None:
        if failure.check(MediaFileNotFound):
            _finish(request, 404, "no such file")
        elif failure.check(PermissionDenied):
            _finish(request, self._refuse(request, 403, "camera not allowed", principal.user_id,
                                          camera=failure.value.camera), None)
        else:
            failure.raiseException()

    def _broken(self, failure, request) -> None:
        _log.failure("while serving {kind} {path}", failure=failure, kind=self._kind,
                         path=request.path.decode("ascii", "replace"))
        _finish(request, 500, "internal error")

    def _refuse(self, request, code: int, reason: str, user_id: Optional[str], camera: Optional[str] = None) -> bytes:
        # summarised per client and reason by the audit service: a client
        # hammering the endpoint costs one line a minute
        self._audit.record(
            "download",
            "denied" if code == 403 else ("failure" if code == 401 else "refused"),
            peer=client_ip(request.getClientAddress()) or "",
            who=user_id,
            message="refused {path} to {peer}: {reason}",
            path=request.path.decode("ascii", "replace")[:300],
            reason=reason,
            camera=camera,
            status=code,
        )
        if code == 401:
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="camservice"')
        return _plain(request, code, reason)


def _static_file(path: str):
    """A :class:`twisted.web.static.File` for ``path``. Imported on the
    first download: the module reads the system's MIME types when it is
    imported, which an idle service need not pay for."""
    from twisted.web import static

    return static.File(path, defaultType="application/octet-stream")


def _plain(request, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    body = text.encode("utf-8") + b"\n"
    request.setHeader(b"Content-Length", b"%d" % len(body))
    return body


def _finish(request, code, text) -> None:
    """Answer a request whose render returned ``NOT_DONE_YET``:
    ``code`` and ``text``, or (``code`` already bytes from
    :func:`_plain`) that body."""
    if request._disconnected:
        return
    body = code if isinstance(code, bytes) else _plain(request, code, text)
    request.write(body)
    request.finish()
