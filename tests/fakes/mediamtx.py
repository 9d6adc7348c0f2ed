"""An in-memory MediaMTX Control API that follows ``mediamtx-openapi.yaml``
(v1.20.1) closely enough for the controller: path configurations, live
paths (configured paths are listed while idle, as the real server does),
publishers and readers, restarts, and outages."""
from __future__ import annotations

import copy
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


@implementer(IMediaMTXAPI)
class FakeMediaMTX:
    """State plus knobs: ``down`` (every call fails as unreachable),
    ``publish(name)``, ``add_reader(name)``, ``restart()``."""

    def __init__(self, clock, version: str = "v1.20.1"):
        self.clock = clock
        self.version = version
        self.down = False
        #: sources that run always (runOnInit, sourceOnDemand off) publish
        #: as soon as their path is configured
        self.auto_publish = True
        self.calls: list[tuple] = []
        self.configs: dict[str, dict] = {}
        self.live: dict[str, dict] = {}
        self._boot = 0
        self.restart()

    # -- knobs -----------------------------------------------------------

    def restart(self) -> None:
        """Like a MediaMTX restart: API-added paths are gone."""
        self._boot += 1
        self.started = f"2026-01-01T00:00:{self._boot:02d}Z"
        self.configs.clear()
        self.live.clear()

    def publish(self, name: str, nbytes: int = 1000) -> None:
        path = self.live[name]
        path.update(ready=True, available=True, online=True,
                    availableTime="2026-01-01T00:00:00Z", onlineTime="2026-01-01T00:00:00Z",
                    readyTime="2026-01-01T00:00:00Z", source={"type": "rtspSession", "id": "x"},
                    inboundBytes=nbytes, outboundBytes=nbytes)

    def add_reader(self, name: str) -> None:
        self.live[name]["readers"].append({"type": "rtspSession", "id": str(len(self.live[name]["readers"]))})

    # -- API ---------------------------------------------------------------

    def _answer(self, call, fn):
        self.calls.append(call)
        if self.down:
            return defer.fail(MediaMTXUnavailable(f"{call[0]}: connection refused"))
        try:
            return defer.succeed(fn())
        except Exception as e:
            return defer.fail(e)

    def info(self):
        return self._answer(("info",), lambda: {"version": self.version, "started": self.started})

    def list_paths(self):
        return self._answer(("list_paths",), lambda: copy.deepcopy(self.live))

    def get_path(self, name):
        def get():
            if name not in self.live:
                raise PathNotFound("path not found", 404)
            return copy.deepcopy(self.live[name])

        return self._answer(("get_path", name), get)

    def list_path_configs(self):
        return self._answer(("list_path_configs",), lambda: copy.deepcopy(self.configs))

    def add_path_config(self, name, conf):
        def add():
            if name in self.configs:
                raise MediaMTXRejected("path already exists", 400)
            self._set(name, conf)
            return {"status": "ok"}

        return self._answer(("add", name), add)

    def replace_path_config(self, name, conf):
        def replace():
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

    def close(self):
        return defer.succeed(None)

    def _set(self, name: str, conf: dict) -> None:
        full = dict(_CONF_DEFAULTS)
        full.update(conf)
        full["name"] = name
        self.configs[name] = full
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
