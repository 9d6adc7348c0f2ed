"""``get_system_status``, ``get_server_info``, ``get_status``, ``get_metrics``."""
from __future__ import annotations

import platform
import sys

import autobahn
import twisted

from camservice import __build_date__, __version__
from camservice.auth.roles import Role
from camservice.cameras.model import CameraStatus
from camservice.cameras.registry import CameraRegistry
from camservice.codec import CODEC
from camservice.media.sessions import FORMATS as RECORDING_FORMATS
from camservice.mediamtx.controller import MediaMTXController
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, MethodTable
from camservice.rpc.notifier import Notifier
from camservice.status import SystemStatus
from camservice.sysinfo import SystemSampler
from camservice.timeutil import iso_timestamp

__all__ = ["API_VERSION", "SystemMethods"]

API_VERSION = "1.0"

#: What this server can do today (``get_server_info.capabilities``).
CAPABILITIES = (
    "websocket_jsonrpc",
    "jwt_auth",
    "api_key_auth",
    "roles",
    "event_subscriptions",
    "virtual_cameras",
    "network_cameras",
    "streaming",
    "snapshots",
    "still_images",
    "recordings",
    "health_endpoints",
    "prometheus_metrics",
    "file_management",
    "file_downloads",
    "storage_monitoring",
    "retention_policy",
)


class SystemMethods:
    """The service describing itself."""

    def __init__(
        self,
        clock,
        registry: CameraRegistry,
        status: SystemStatus,
        notifier: Notifier,
        sampler: SystemSampler,
        table: MethodTable,
        controller: MediaMTXController,
        stream_totals=None,
        recording_metrics=None,
    ):
        self._clock = clock
        self._registry = registry
        self._status = status
        self._notifier = notifier
        self._sampler = sampler
        self._table = table
        self._controller = controller
        self._stream_totals = stream_totals
        self._recording_metrics = recording_metrics

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("get_system_status", self.get_system_status, Role.viewer,
                       summary="starting, partial or ready, with the available cameras."),
            MethodSpec("get_server_info", self.get_server_info, Role.viewer,
                       summary="Name, version, capabilities and methods of this server."),
            MethodSpec("get_status", self.get_status, Role.admin,
                       summary="Overall health and each component's state."),
            MethodSpec("get_metrics", self.get_metrics, Role.admin,
                       summary="System, camera, recording, stream and API figures."),
        ]

    def get_system_status(self, call: Call, params: dict) -> dict:
        result = self._status.system_status()
        principal = call.principal
        result["available_cameras"] = [c for c in result["available_cameras"] if principal.may_use_camera(c)]
        r = self._sampler.resources()
        # totals only: process ids and names are for admins (get_metrics)
        result["resources"] = {
            "cpu_usage": r["cpu_usage"],
            "memory_bytes": r["memory_bytes"],
            "open_files": r["open_files"],
            "threads": r["threads"],
            "children": len(r["children"]),
            "children_cpu_usage": r["children_cpu_usage"],
            "children_memory_bytes": r["children_memory_bytes"],
            "data_dir_bytes": r["data_dir_bytes"],
        }
        return result

    def get_server_info(self, call: Call, params: dict) -> dict:
        return {
            "name": "camservice",
            "version": __version__,
            "build_date": __build_date__,
            "architecture": platform.machine(),
            "capabilities": list(CAPABILITIES),
            "supported_formats": list(RECORDING_FORMATS) if self._recording_metrics is not None else [],
            "max_cameras": self._registry.max_cameras,
            "api_version": API_VERSION,
            "methods": {spec.name: spec.version for spec in self._table},
            "python_version": platform.python_version(),
            "twisted_version": twisted.__version__,
            "autobahn_version": autobahn.__version__,
            "json_codec": CODEC,
            "mediamtx_version": self._controller.mediamtx_version,
            "stream_protocols": list(self._controller.config.protocols),
            "platform": sys.platform,
        }

    def get_status(self, call: Call, params: dict) -> dict:
        return {
            "status": self._status.overall(),
            "uptime": int(self._status.uptime),
            "version": __version__,
            "components": self._status.components(),
            "mediamtx": self._mediamtx_state(),
        }

    def _mediamtx_state(self) -> dict:
        breaker = self._controller.breaker
        return {
            "health": self._controller.health.value,
            "detail": self._controller.detail,
            "breaker": breaker.state.value,
            "breaker_failures": breaker.failures,
            "breaker_retry_in": round(breaker.retry_in(), 1),
            "version": self._controller.mediamtx_version,
        }

    async def get_metrics(self, call: Call, params: dict) -> dict:
        await self._sampler.refresh_data_dir()
        cameras = self._registry.cameras()
        return {
            "timestamp": iso_timestamp(self._clock.seconds()),
            "system_metrics": self._sampler.sample(),
            "camera_metrics": {
                "connected_cameras": sum(1 for c in cameras if c.status is CameraStatus.CONNECTED),
                "total_cameras": len(cameras),
                "cameras": {
                    c.id: {"status": c.status.value, "kind": c.kind.value, "resolution": c.resolution, "fps": c.fps}
                    for c in cameras
                },
            },
            "recording_metrics": (
                self._recording_metrics() if self._recording_metrics is not None else {"active_recordings": 0}
            ),
            "stream_metrics": await self._stream_totals() if self._stream_totals is not None else None,
            "mediamtx": self._mediamtx_state(),
            "api_metrics": self._notifier.stats(),
        }
