"""Network cameras at run time: ``add_external_stream``,
``remove_external_stream``, ``get_external_streams``,
``discover_external_streams``, ``set_discovery_interval``."""
from __future__ import annotations

from camservice.auth.roles import Role
from camservice.cameras.external import DiscoveryDisabled, DuplicateStream, ExternalStreams, UnknownStream
from camservice.cameras.registry import CameraRegistry
from camservice.rpc.dispatcher import Call
from camservice.rpc.errors import InvalidState, NotFound, Unsupported
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.timeutil import iso_timestamp

__all__ = ["ExternalStreamMethods"]

_URL = {"type": "string", "maxLength": 2048, "pattern": "^(rtsp|rtsps|rtmp|rtmps|srt|http|https)://[^\\s]+$"}
_NAME = {"type": "string", "minLength": 1, "maxLength": 128}


class ExternalStreamMethods:
    def __init__(self, external: ExternalStreams, registry: CameraRegistry, clock):
        self._external = external
        self._registry = registry
        self._clock = clock

    def specs(self) -> list[MethodSpec]:
        url = "rtsp://192.0.2.10:554/stream1"
        return [
            MethodSpec("add_external_stream", self.add_external_stream, Role.operator,
                       object_schema({"stream_url": _URL, "stream_name": _NAME,
                                      "stream_type": {"type": "string", "enum": ["rtsp", "rtmp", "srt", "hls"]}},
                                     ["stream_url", "stream_name"]),
                       summary="Add a network stream as a camera (kept across restarts).",
                       example={"stream_url": url, "stream_name": "gate"}),
            MethodSpec("remove_external_stream", self.remove_external_stream, Role.operator,
                       object_schema({"stream_url": _URL}, ["stream_url"]),
                       summary="Remove an added network stream and its camera.",
                       example={"stream_url": url}),
            MethodSpec("get_external_streams", self.get_external_streams, Role.viewer,
                       summary="Added network streams with their state."),
            MethodSpec("discover_external_streams", self.discover_external_streams, Role.operator,
                       object_schema({"force_rescan": {"type": "boolean"}, "include_offline": {"type": "boolean"}}),
                       summary="Probe the configured candidate URLs (never a network scan)."),
            MethodSpec("set_discovery_interval", self.set_discovery_interval, Role.admin,
                       object_schema({"scan_interval": {"type": "integer", "minimum": 0, "maximum": 86400}},
                                     ["scan_interval"]),
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
        return {
            "stream_url": stream.url,
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
            raise NotFound(resource="external_stream", id=params["stream_url"], reason="no such stream was added")
        return {"stream_url": stream.url, "status": "REMOVED", "timestamp": self._now(), "device": stream.id}

    def get_external_streams(self, call: Call, params: dict) -> dict:
        streams = []
        for s in sorted(self._external.streams(), key=lambda s: s.added_at, reverse=True):
            if not call.principal.may_use_camera(s.id):
                continue
            camera = self._registry.get(s.id) if s.id in self._registry else None
            streams.append({
                "url": s.url,
                "type": s.type,
                "name": s.name,
                "device": s.id,
                "status": camera.status.value if camera else "DISCONNECTED",
                "error": camera.error if camera else None,
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
