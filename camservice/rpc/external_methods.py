"""Network cameras at run time: ``add_external_stream``,
``remove_external_stream``, ``get_external_streams``,
``discover_external_streams``, ``set_discovery_interval``.

Stream URLs may carry credentials: every URL this module answers with is
redacted (``rtsp://***@host/...``) except in ``get_external_streams`` to
an admin who asks for ``show_credentials`` (an audited event). A client
that only knows the redacted URL can still remove the stream with it.
"""
from __future__ import annotations

from typing import Optional

from camservice.auth.errors import PermissionDenied
from camservice.auth.roles import Role
from camservice.cameras.external import (
    AmbiguousStream,
    DiscoveryDisabled,
    DuplicateStream,
    ExternalStreams,
    UnknownStream,
)
from camservice.cameras.registry import CameraRegistry
from camservice.rpc.audit import Audit
from camservice.rpc.dispatcher import Call
from camservice.rpc.errors import InvalidParams, InvalidState, NotFound, Unsupported
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.security.errors import BadStreamURL, TargetRefused
from camservice.security.redact import redact_url
from camservice.security.urls import MAX_URL_LENGTH
from camservice.timeutil import iso_timestamp

__all__ = ["ExternalStreamMethods"]

# the rest of the URL rules (scheme, host, port, characters, escapes) are
# checked by camservice.security.urls, which names the rule broken
_URL = {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH}
_NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\x00-\\x1f\\x7f]+$"}


class ExternalStreamMethods:
    """The methods; ``audit`` records an admin's view of credentials."""

    def __init__(self, external: ExternalStreams, registry: CameraRegistry, clock, audit: Optional[Audit] = None):
        self._external = external
        self._registry = registry
        self._clock = clock
        self._audit = audit

    def specs(self) -> list[MethodSpec]:
        url = "rtsp://192.0.2.10:554/stream1"
        return [
            MethodSpec("add_external_stream", self.add_external_stream, Role.operator,
                       object_schema({"stream_url": _URL, "stream_name": _NAME,
                                      "stream_type": {"type": "string", "enum": ["rtsp", "rtmp", "srt", "hls"]}},
                                     ["stream_url", "stream_name"]),
                       audit=("stream_url", "stream_name", "stream_type"),
                       summary="Add a network stream as a camera (kept across restarts).",
                       example={"stream_url": url, "stream_name": "gate"}),
            MethodSpec("remove_external_stream", self.remove_external_stream, Role.operator,
                       object_schema({"stream_url": _URL}, ["stream_url"]),
                       audit=("stream_url",),
                       summary="Remove an added network stream and its camera (by its URL or its redacted URL).",
                       example={"stream_url": url}),
            MethodSpec("get_external_streams", self.get_external_streams, Role.viewer,
                       object_schema({"show_credentials": {"type": "boolean"}}),
                       summary="Added network streams with their state (URLs redacted; "
                               "show_credentials: admins only)."),
            MethodSpec("discover_external_streams", self.discover_external_streams, Role.operator,
                       object_schema({"force_rescan": {"type": "boolean"}, "include_offline": {"type": "boolean"}}),
                       audit=(),
                       summary="Probe the configured candidate URLs (never a network scan)."),
            MethodSpec("set_discovery_interval", self.set_discovery_interval, Role.admin,
                       object_schema({"scan_interval": {"type": "integer", "minimum": 0, "maximum": 86400}},
                                     ["scan_interval"]),
                       audit=("scan_interval",),
                       summary="Seconds between automatic scans (0: on request only); kept across restarts.",
                       example={"scan_interval": 300}),
        ]

    def _now(self) -> str:
        return iso_timestamp(self._clock.seconds())

    async def add_external_stream(self, call: Call, params: dict) -> dict:
        try:
            stream = await self._external.add(params["stream_url"], params["stream_name"], params.get("stream_type"))
        except DuplicateStream:
            raise InvalidState(state="already_added", allowed_states=["not_added"],
                               reason="a stream with this URL or name is already added")
        except (BadStreamURL, TargetRefused) as e:
            raise InvalidParams(param="stream_url", rule=e.rule, reason=f"stream_url {e.rule}", hint=e.hint)
        return {
            "stream_url": redact_url(stream.url),
            "stream_name": stream.name,
            "stream_type": stream.type,
            "status": "ADDED",
            "timestamp": self._now(),
            "device": stream.id,
        }

    async def remove_external_stream(self, call: Call, params: dict) -> dict:
        try:
            stream = await self._external.remove(params["stream_url"])
        except UnknownStream:
            raise NotFound(resource="external_stream", id=redact_url(params["stream_url"]),
                           reason="no such stream was added")
        except AmbiguousStream:
            raise InvalidParams(param="stream_url", rule="matches more than one added stream once redacted",
                                reason="stream_url matches more than one added stream once redacted",
                                hint="give the full URL (an admin sees it with get_external_streams show_credentials)")
        return {"stream_url": redact_url(stream.url), "status": "REMOVED", "timestamp": self._now(),
                "device": stream.id}

    def get_external_streams(self, call: Call, params: dict) -> dict:
        reveal = params.get("show_credentials", False)
        if reveal:
            if call.principal.role < Role.admin:
                raise PermissionDenied(Role.admin.name, call.principal.role.name)
            if self._audit is not None:
                self._audit.record("show_stream_credentials", "success", call.session.peer,
                                   call.principal.user_id, conn_id=call.session.conn_id, request_id=call.request_id)
        streams = []
        for s in sorted(self._external.streams(), key=lambda s: s.added_at, reverse=True):
            if not call.principal.may_use_camera(s.id):
                continue
            camera = self._registry.get(s.id) if s.id in self._registry else None
            refusal = self._external.refusal(s.url)
            streams.append({
                "url": s.url if reveal else redact_url(s.url),
                "type": s.type,
                "name": s.name,
                "device": s.id,
                "status": "ERROR" if refusal else (camera.status.value if camera else "DISCONNECTED"),
                "error": refusal or (camera.error if camera else None),
                "discovered_at": iso_timestamp(s.added_at),
                "last_seen": iso_timestamp(s.last_seen) if s.last_seen else None,
                "capabilities": s.capabilities or {},
            })
        return {"external_streams": streams, "total_count": len(streams), "timestamp": self._now()}

    async def discover_external_streams(self, call: Call, params: dict) -> dict:
        started = self._clock.seconds()
        try:
            found = await self._external.discover(include_offline=params.get("include_offline", False))
        except DiscoveryDisabled:
            raise Unsupported(feature="external_stream_discovery",
                              reason="no candidate URLs are configured (external_streams.candidates)")
        return {
            "discovered_streams": found,
            "total_found": sum(1 for f in found if f["status"] == "ONLINE"),
            "candidates": len(self._external.last_scan),
            "scan_duration_ms": int((self._clock.seconds() - started) * 1000),
            "timestamp": self._now(),
        }

    async def set_discovery_interval(self, call: Call, params: dict) -> dict:
        seconds = params["scan_interval"]
        await self._external.set_scan_interval(seconds)
        message = (f"streams are scanned every {seconds} s" if seconds
                   else "automatic scans are off; discover_external_streams scans on request")
        return {"scan_interval": seconds, "message": message}
