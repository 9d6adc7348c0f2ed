"""A treq client of MediaMTX's v3 Control API (``mediamtx-openapi.yaml``).

Every call is bounded by one timeout covering the response *and* its body
(treq's own ``timeout=`` only covers the headers). Transport failures,
timeouts and 5xx become :class:`MediaMTXUnavailable`; 4xx become
:class:`MediaMTXRejected` (:class:`PathNotFound` for 404).
"""
from __future__ import annotations

import base64
import json
from typing import Any, Optional
from urllib.parse import quote

import treq
from treq.client import HTTPClient
from twisted.internet import defer
from twisted.web.client import Agent, HTTPConnectionPool
from zope.interface import Interface, implementer

from camservice._defer import async_to_deferred
from camservice.mediamtx.errors import MediaMTXRejected, MediaMTXUnavailable, PathNotFound
from camservice.security.redact import redact_text

__all__ = ["IMediaMTXAPI", "MediaMTXClient"]

_PAGE = 1000


class IMediaMTXAPI(Interface):
    """The Control API calls camservice makes (each returns a Deferred)."""

    def info():
        """Fires with ``/v3/info``: ``{version, started}``."""

    def list_paths():
        """Fires with every live path (``Path`` objects) by name."""

    def get_path(name):
        """Fires with one live path; fails with :class:`PathNotFound`."""

    def list_path_configs():
        """Fires with every path configuration (``PathConf``) by name."""

    def add_path_config(name, conf):
        """Adds a path configuration."""

    def replace_path_config(name, conf):
        """Replaces all values of a path configuration."""

    def delete_path_config(name):
        """Removes a path configuration; fails with :class:`PathNotFound`."""

    def list_rtsp_sessions():
        """Fires with every RTSP session (``RTSPSession``) by id."""

    def get_global():
        """Fires with the global configuration (``GlobalConf``)."""

    def patch_global(fields):
        """Changes global settings (``OptionalGlobal``); MediaMTX applies
        them in its own process, restarting the servers they concern."""

    def answers_anonymously():
        """Fires with whether ``/v3/info`` answers a request without
        credentials (a MediaMTX that is not locked to camservice)."""

    def close():
        """Drops pooled connections; fires when done."""


@implementer(IMediaMTXAPI)
class MediaMTXClient:
    """Talks to one MediaMTX.

    :param reactor: the reactor (and clock for timeouts).
    :param base_url: e.g. ``http://127.0.0.1:9997``.
    :param timeout: seconds per call, response and body together.
    :param credentials: ``(user, password)`` sent with every call (Basic
        auth); MediaMTX grants its API to nobody else.
    """

    def __init__(self, reactor, base_url: str, timeout: float, credentials: Optional[tuple[str, str]] = None):
        self._reactor = reactor
        self._auth: dict[bytes, list[bytes]] = {}
        if credentials is not None:
            self.set_credentials(*credentials)
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = 4
        self._http = HTTPClient(Agent(reactor, pool=self._pool))

    @property
    def base_url(self) -> str:
        return self._base

    def set_base_url(self, base_url: str) -> None:
        """Talk to ``base_url`` from the next call on (MediaMTX's API moved,
        or a reload points camservice at another address)."""
        self._base = base_url.rstrip("/")

    def set_credentials(self, user: str, password: str) -> None:
        """Present these credentials from the next call on."""
        token = base64.b64encode(f"{user}:{password}".encode("utf-8"))
        self._auth = {b"Authorization": [b"Basic " + token]}

    def set_timeout(self, timeout: float) -> None:
        """Bound the calls that start from now on by ``timeout`` seconds."""
        self._timeout = timeout

    def info(self) -> defer.Deferred:
        return self._request("GET", "/v3/info")

    def get_global(self) -> defer.Deferred:
        return self._request("GET", "/v3/config/global/get")

    def patch_global(self, fields: dict) -> defer.Deferred:
        return self._request("PATCH", "/v3/config/global/patch", fields)

    @async_to_deferred
    async def list_paths(self) -> dict[str, dict]:
        return await self._all_pages("/v3/paths/list")

    def get_path(self, name: str) -> defer.Deferred:
        return self._request("GET", "/v3/paths/get/" + quote(name, safe=""))

    @async_to_deferred
    async def list_path_configs(self) -> dict[str, dict]:
        return await self._all_pages("/v3/config/paths/list")

    def add_path_config(self, name: str, conf: dict) -> defer.Deferred:
        return self._request("POST", "/v3/config/paths/add/" + quote(name, safe=""), conf)

    def replace_path_config(self, name: str, conf: dict) -> defer.Deferred:
        return self._request("POST", "/v3/config/paths/replace/" + quote(name, safe=""), conf)

    def delete_path_config(self, name: str) -> defer.Deferred:
        return self._request("DELETE", "/v3/config/paths/delete/" + quote(name, safe=""))

    @async_to_deferred
    async def list_rtsp_sessions(self) -> dict[str, dict]:
        return await self._all_pages("/v3/rtspsessions/list", key="id")

    @async_to_deferred
    async def answers_anonymously(self) -> bool:
        d = defer.ensureDeferred(self._anonymous_info())
        d.addTimeout(self._timeout, self._reactor)
        try:
            return await d
        except (defer.TimeoutError, ConnectionError, OSError) as e:
            raise MediaMTXUnavailable(f"GET /v3/info: {type(e).__name__}")

    async def _anonymous_info(self) -> bool:
        response = await self._http.request("GET", self._base + "/v3/info")
        await treq.content(response)
        return response.code == 200

    def close(self) -> defer.Deferred:
        return self._pool.closeCachedConnections()

    async def _all_pages(self, path: str, key: str = "name") -> dict[str, dict]:
        items: dict[str, dict] = {}
        page = 0
        while True:
            body = await self._request("GET", f"{path}?itemsPerPage={_PAGE}&page={page}")
            for item in body.get("items") or []:
                items[item[key]] = item
            page += 1
            if page >= int(body.get("pageCount") or 0):
                return items

    def _request(self, method: str, path: str, body: Optional[dict] = None) -> defer.Deferred:
        d = defer.ensureDeferred(self._exchange(method, path, body))
        d.addTimeout(self._timeout, self._reactor)
        return d.addErrback(self._translate, method, path)

    async def _exchange(self, method: str, path: str, body: Optional[dict]) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self._auth)
        if data is not None:
            headers[b"Content-Type"] = [b"application/json"]
        response = await self._http.request(method, self._base + path, data=data, headers=headers)
        content = await treq.content(response)
        if response.code == 404:
            raise PathNotFound(_error_text(content) or f"{path}: not found", 404)
        if 400 <= response.code < 500:
            raise MediaMTXRejected(f"{method} {path}: {response.code} {_error_text(content)}", response.code)
        if response.code >= 500:
            raise MediaMTXUnavailable(f"{method} {path}: {response.code} {_error_text(content)}")
        return json.loads(content) if content.strip() else {}

    @staticmethod
    def _translate(failure, method: str, path: str):
        if failure.check(MediaMTXRejected, MediaMTXUnavailable):
            return failure
        if failure.check(defer.TimeoutError):
            raise MediaMTXUnavailable(f"{method} {path}: no answer in time")
        if failure.check(defer.CancelledError):
            return failure
        if failure.check(ValueError):
            raise MediaMTXUnavailable(f"{method} {path}: unreadable answer")
        raise MediaMTXUnavailable(f"{method} {path}: {failure.getErrorMessage() or failure.type.__name__}")


def _error_text(content: bytes) -> str:
    # MediaMTX quotes source URLs (credentials included) in its errors
    try:
        return redact_text(str(json.loads(content).get("error", "")))[:200]
    except (ValueError, AttributeError):
        return redact_text(content[:400].decode("utf-8", "replace"))[:200]
