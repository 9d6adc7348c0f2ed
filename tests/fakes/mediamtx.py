"""An in-memory MediaMTX Control API that follows ``mediamtx-openapi.yaml``
(v1.20.1) closely enough for the controller: path configurations, live
paths (configured paths are listed while idle, as the real server does),
publishers and readers, restarts, and outages."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Optional

from twisted.internet import defer
from zope.interface import implementer

from camservice.mediamtx.client import IMediaMTXAPI
from camservice.mediamtx.errors import MediaMTXRejected, MediaMTXUnavailable, PathNotFound

_CONF_DEFAULTS = {
    "source": "publisher",
    "sourceOnDemand": False,
    "sourceOnDemandStartTimeout": "10s",
    "sourceOnDemandCloseAfter": "10s",
    "runOnInit": "",
    "runOnInitRestart": False,
    "runOnDemand": "",
    "runOnDemandRestart": False,
    "runOnDemandStartTimeout": "10s",
    "runOnDemandCloseAfter": "10s",
    "record": False,
    "rtspTransport": "automatic",
}


def _needs_recreate(old: dict, new: dict) -> bool:
    # pathConfCanBeUpdated (internal/core/path_manager.go, v1.20.1)
    def fixed(conf):
        return {k: v for k, v in conf.items()
                if not k.startswith(("record", "rpiCamera")) and k not in ("name", "forward")}

    return fixed(old) != fixed(new)


@implementer(IMediaMTXAPI)
class FakeMediaMTX:
    """State plus knobs: ``down`` (every call fails as unreachable),
    ``publish(name)``, ``add_reader(name)``, ``restart()``, ``hold(call)``
    and ``release()`` (a slow or silent server), ``fail_next(call, error)``,
    ``external_path(name)`` and ``external_delete(name)`` (someone else
    using the API), ``refused[name] = reason`` (MediaMTX refuses that path's
    configuration with a 400).

    Call names (as recorded in :attr:`calls`): ``info``, ``list_paths``,
    ``get_path``, ``list_path_configs``, ``add``, ``replace``, ``delete``.
    """

    def __init__(self, clock, version: str = "v1.20.1"):
        self.clock = clock
        self.version = version
        self.down = False
        #: sources that run always (runOnInit, sourceOnDemand off) publish
        #: as soon as their path is configured
        self.auto_publish = True
        #: v1.20.1 closes a live path whose configuration changed in a way
        #: it cannot hot-reload (``pathConfCanBeUpdated``: anything but the
        #: record*, rpiCamera* and forward settings), dropping its readers and
        #: source; off by default (the path keeps its state)
        self.reload_closes_paths = False
        self.calls: list[tuple] = []
        #: calls waiting for :meth:`release`: ``(deferred, call, answer)``
        self.held: list[tuple] = []
        self._holds: set[str] = set()
        self._failures: dict[str, Exception] = {}
        #: path name -> why add/replace of it is refused (400), until cleared
        self.refused: dict[str, str] = {}
        #: whether the Control API answers without credentials (not locked)
        self.anonymous_api = False
        self.configs: dict[str, dict] = {}
        #: RTSPSession objects by id (readers that came over RTSP)
        self.rtsp_sessions: dict[str, dict] = {}

        self.live: dict[str, dict] = {}
        #: ready paths whose source sends nothing (stalled publishers); the
        #: others receive ``bytes_per_second`` while ready
        self.stalled: set[str] = set()
        self.bytes_per_second = 10_000
        self._flowed_at = clock.seconds()
        #: the global settings patched in (``patch_global``)
        self.global_conf: dict = {}
        #: where the client talks (``set_base_url``), every address in order
        self.base_urls: list[str] = []
        self._boot = 0
        self.restart()

    # -- knobs -----------------------------------------------------------

    def restart(self) -> None:
        """Like a MediaMTX restart: API-added paths are gone."""
        self._boot += 1
        self.started = f"2026-01-01T00:00:{self._boot:02d}Z"
        self.configs.clear()
        self.live.clear()
        self.rtsp_sessions.clear()

    def publish(self, name: str, nbytes: int = 1000) -> None:
        """A source starts publishing now (the clock's time, written as Go
        writes times: RFC 3339 with nanoseconds)."""
        path = self.live[name]
        now = datetime.fromtimestamp(self.clock.seconds(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        path.update(ready=True, available=True, online=True,
                    availableTime=now, onlineTime=now, readyTime=now,
                    source={"type": "rtspSession", "id": "x"},
                    inboundBytes=nbytes, outboundBytes=nbytes, bytesReceived=nbytes, bytesSent=nbytes)

    def add_reader(self, name: str) -> None:
        self.live[name]["readers"].append({"type": "rtspSession", "id": str(len(self.live[name]["readers"]))})

    def hold(self, call: str) -> None:
        """The next ``call`` gets no answer until :meth:`release` (never,
        if it is not released); cancelling it fails it with
        ``CancelledError``, as treq does."""
        self._holds.add(call)

    def release(self) -> None:
        """Answer every held call, from the state as it is now."""
        held, self.held = self.held, []
        for d, call, answer in held:
            if not d.called:
                self._result(call, answer).chainDeferred(d)

    def fail_next(self, call: str, error: Exception) -> None:
        """The next ``call`` fails with ``error`` (e.g. a
        :class:`MediaMTXRejected` for a 400) and changes nothing."""
        self._failures[call] = error

    def external_delete(self, name: str) -> None:
        """Someone else deletes a path configuration."""
        del self.configs[name]
        self.live.pop(name, None)

    # -- API ---------------------------------------------------------------

    def _answer(self, call, fn):
        self.calls.append(call)
        if call[0] in self._holds:
            self._holds.discard(call[0])
            d: defer.Deferred = defer.Deferred()
            self.held.append((d, call, fn))
            return d
        return self._result(call, fn)

    def _result(self, call, fn):
        if self.down:
            return defer.fail(MediaMTXUnavailable(f"{call[0]}: connection refused"))
        error = self._failures.pop(call[0], None)
        if error is not None:
            return defer.fail(error)
        try:
            return defer.succeed(fn())
        except Exception as e:
            return defer.fail(e)

    def info(self):
        return self._answer(("info",), lambda: {"version": self.version, "started": self.started})

    def _flow(self) -> None:
        """Bytes ready sources sent since the last look."""
        now = self.clock.seconds()
        sent, self._flowed_at = int((now - self._flowed_at) * self.bytes_per_second), now
        for name, path in self.live.items():
            if path.get("ready") and name not in self.stalled and sent:
                for key in ("inboundBytes", "bytesReceived"):
                    path[key] = path.get(key, 0) + sent

    def list_paths(self):
        def paths():
            self._flow()
            return copy.deepcopy(self.live)

        return self._answer(("list_paths",), paths)

    def get_path(self, name):
        def get():
            self._flow()
            if name not in self.live:
                raise PathNotFound("path not found", 404)
            return copy.deepcopy(self.live[name])

        return self._answer(("get_path", name), get)

    def answers_anonymously(self):
        return self._answer(("answers_anonymously",), lambda: self.anonymous_api)

    def list_path_configs(self):
        return self._answer(("list_path_configs",), lambda: copy.deepcopy(self.configs))

    def _refuse(self, name):
        if name in self.refused:
            raise MediaMTXRejected(f"POST /v3/config/paths/add/{name}: 400 {self.refused[name]}", 400)

    def add_path_config(self, name, conf):
        def add():
            self._refuse(name)
            if name in self.configs:
                raise MediaMTXRejected("path already exists", 400)
            self._set(name, conf)
            return {"status": "ok"}

        return self._answer(("add", name), add)

    def replace_path_config(self, name, conf):
        def replace():
            self._refuse(name)
            if name not in self.configs:
                raise PathNotFound("path configuration not found", 404)
            self._set(name, conf)
            return {"status": "ok"}

        return self._answer(("replace", name), replace)

    def delete_path_config(self, name):
        def delete():
            if name not in self.configs:
                raise PathNotFound("path configuration not found", 404)
            del self.configs[name]
            del self.live[name]
            return {"status": "ok"}

        return self._answer(("delete", name), delete)

    def set_base_url(self, url):
        if not self.base_urls or self.base_urls[-1] != url:
            self.base_urls.append(url)

    def get_global(self):
        return self._answer(("get_global",), lambda: copy.deepcopy(self.global_conf))

    def patch_global(self, fields):
        def patch():
            self.global_conf.update(copy.deepcopy(fields))
            return {}

        return self._answer(("patch_global", copy.deepcopy(fields)), patch)

    def list_rtsp_sessions(self):
        return self._answer(("list_rtsp_sessions",), lambda: copy.deepcopy(self.rtsp_sessions))

    def close(self):
        return defer.succeed(None)

    def _set(self, name: str, conf: dict) -> None:
        full = dict(_CONF_DEFAULTS)
        full.update(conf)
        full["name"] = name
        old = self.configs.get(name)
        self.configs[name] = full
        if old is not None and self.reload_closes_paths and _needs_recreate(old, full):
            self.live.pop(name, None)
        live = self.live.setdefault(name, {
            "name": name, "confName": name, "ready": False, "readyTime": None, "available": False,
            "availableTime": None, "online": False, "onlineTime": None, "source": None, "tracks": [],
            "tracks2": [], "readers": [], "inboundBytes": 0, "outboundBytes": 0,
            "inboundFramesInError": 0, "bytesReceived": 0, "bytesSent": 0,
        })
        always_on = full["runOnInit"] or (full["source"] not in ("publisher", "redirect") and not full["sourceOnDemand"])
        if always_on and self.auto_publish and not live["ready"]:
            self.publish(name)

    def external_path(self, name: str, conf: Optional[dict] = None) -> None:
        """A path someone else configured (camservice must leave it alone)."""
        self._set(name, conf or {"source": "publisher"})
