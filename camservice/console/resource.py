"""The HTTP resources of the web console.

``/`` is the page (``static/index.html``) and ``/console/<file>`` its
scripts, styles and images, all from the package's ``static`` folder. Every
answer carries a Content-Security-Policy that lets the page load code only
from camservice itself and talk only to camservice (its WebSocket and
``/files``) and to the MediaMTX origins its stream URLs point at (HLS and
WHEP), plus ``nosniff``, ``no-referrer`` and no framing. Files are
revalidated on each load (``Cache-Control: no-cache`` with
``Last-Modified``), so an upgrade is seen at once and an unchanged file
costs a ``304``.
"""
from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from typing import Callable, Iterable, Optional
from urllib.parse import urlsplit

from twisted.web import http, static
from twisted.web.resource import Resource

__all__ = ["STATIC_DIR", "ConsoleFiles", "ConsolePage", "StreamOrigins", "content_security_policy", "console_resources",
           "media_origins_of"]

#: the console's files, shipped as package data
STATIC_DIR = Path(__file__).resolve().parent / "static"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}


def media_origins_of(urls: dict) -> tuple[str, ...]:
    """The origins (``scheme://host:port``) of a camera's HLS and WebRTC
    URLs (``StreamLocator.urls``); protocols that are off are left out."""
    origins = []
    for key in ("hls", "webrtc"):
        url = urls.get(key)
        if url:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
            if origin not in origins:
                origins.append(origin)
    return tuple(origins)


def content_security_policy(media_origins: Iterable[str], own: Iterable[str] = ()) -> str:
    """The page's policy: code, styles, fonts and images from camservice
    only (images also from ``blob:``, the snapshots fetched with the
    credential); connections to camservice (its WebSocket included) and to
    ``media_origins``; video from those and ``blob:`` (hls.js feeds Media
    Source Extensions).

    :param own: more origins of camservice itself to connect to (its
        WebSocket's).
    """
    def clean(origins):
        return [o for o in origins if o and "*" not in o and " " not in o and ";" not in o and "," not in o]

    media = " ".join(clean(media_origins))
    media = f" {media}" if media else ""
    own_ = "".join(f" {o}" for o in clean(own))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "font-src 'self'",
            f"connect-src 'self'{own_}{media}",
            f"media-src 'self' blob:{media}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


class _NotFound(Resource):
    """A plain ``404``."""

    isLeaf = True
    code = 404

    def render(self, request):
        request.setResponseCode(404)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"not found\n"


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def websocket_origin(request) -> Optional[str]:
    """``ws(s)://`` + the ``Host`` the page was asked for (``'self'`` covers
    it in CSP Level 3; named too for browsers that do not); ``None`` for a
    missing or malformed ``Host``."""
    host = (request.getHeader(b"host") or "")
    host = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    if not _HOST.match(host):
        return None
    return f"{'wss' if request.isSecure() else 'ws'}://{host}"


def _secure(request, media_origins: Callable[[], Iterable[str]]) -> None:
    ws = websocket_origin(request)
    policy = content_security_policy(media_origins(), (ws,) if ws else ())
    request.setHeader(b"Content-Security-Policy", policy.encode("ascii"))
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"Referrer-Policy", b"no-referrer")
    request.setHeader(b"X-Frame-Options", b"DENY")
    request.setHeader(b"Cache-Control", b"no-cache")


class ConsoleFiles(static.File):
    """``/console/<file>``: the console's static files; no directory
    listings, no dot-names.

    :param media_origins: called per request: the origins the policy allows
        for media (they follow a reload).
    """

    contentTypes = _TYPES
    defaultType = "application/octet-stream"

    def __init__(self, path, media_origins: Callable[[], Iterable[str]], **kw):
        super().__init__(str(path), **kw)
        self._media_origins = media_origins
        self.indexNames = []

    def createSimilarFile(self, path):
        f = ConsoleFiles(path, self._media_origins, defaultType=self.defaultType)
        f.processors = self.processors
        f.indexNames = []
        f.childNotFound = self.childNotFound
        return f

    def getChild(self, path, request):
        if path.startswith(b"."):
            return _NotFound()
        return super().getChild(path, request)

    def directoryListing(self):
        return _NotFound()

    def render(self, request):
        _secure(request, self._media_origins)
        return super().render(request)


class ConsolePage(Resource):
    """``/``: the console's page, ``index.html`` with the WebSocket path
    filled in, for ``GET`` and ``HEAD`` (an ``ETag`` for revalidation).

    :param websocket_path: ``server.websocket_path``, where the page
        connects.
    """

    isLeaf = True

    def __init__(self, media_origins: Callable[[], Iterable[str]], websocket_path: str = "/ws",
                 static_dir: Path = STATIC_DIR):
        super().__init__()
        self._media_origins = media_origins
        page = (static_dir / "index.html").read_text("utf-8")
        self._body = page.replace("{{websocket_path}}", html.escape(websocket_path, quote=True)).encode("utf-8")
        self._etag = b'"' + hashlib.sha256(self._body).hexdigest()[:32].encode("ascii") + b'"'

    def render_GET(self, request):
        if request.postpath not in ([], [b""]):
            return _NotFound().render(request)
        _secure(request, self._media_origins)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"ETag", self._etag)
        if self._etag in (request.getHeader(b"if-none-match") or b"").split(b", "):
            request.setResponseCode(http.NOT_MODIFIED)
            return b""
        request.setHeader(b"Content-Length", str(len(self._body)).encode("ascii"))
        return self._body

    render_HEAD = render_GET


def console_resources(media_origins: Callable[[], Iterable[str]], websocket_path: str = "/ws",
                      static_dir: Path = STATIC_DIR) -> dict:
    """The top-level resources of the console by path segment (``b""`` is
    ``/``), for ``build_site``'s ``resources``."""
    return {
        b"": ConsolePage(media_origins, websocket_path, static_dir),
        b"console": ConsoleFiles(static_dir, media_origins),
    }


class StreamOrigins:
    """The media origins of the stream URLs clients are given now, worked
    out again only when those URLs change.

    :param urls: a camera path -> its ``{rtsp, hls, webrtc}`` URLs
        (``StreamLocator.urls``).
    :param epoch: changes exactly when the URLs do (``StreamLocator.epoch``).
    """

    def __init__(self, urls: Callable[[str], dict], epoch: Callable[[], int]):
        self._urls = urls
        self._epoch = epoch
        self._cached: tuple = (None, ())

    def __call__(self) -> tuple[str, ...]:
        epoch = self._epoch()
        if self._cached[0] != epoch:
            self._cached = (epoch, media_origins_of(self._urls("camera0")))
        return self._cached[1]
