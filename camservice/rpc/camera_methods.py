"""``get_camera_list``, ``get_camera_status``, ``get_camera_capabilities``."""
from __future__ import annotations

from camservice.auth.errors import PermissionDenied
from camservice.auth.roles import Role
from camservice.cameras.model import CameraStatus
from camservice.cameras.registry import CameraRegistry
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import CAMERA_ID
from camservice.rpc.views import CameraPresenter

__all__ = ["CameraMethods"]

_DEVICE = object_schema({"device": CAMERA_ID}, ["device"])


class CameraMethods:
    """Reading the camera table.

    :param registry: the camera table.
    :param clock: ``IReactorTime`` (POSIX seconds), for uptimes.
    :param presenter: renders cameras.
    :param stream_metrics: ``async (camera_id) -> {bytes_sent, readers,
        uptime}`` or ``None`` (MediaMTX unreachable); without it, no media
        server serves the cameras.
    """

    def __init__(self, registry: CameraRegistry, clock, presenter: CameraPresenter, stream_metrics=None):
        self._registry = registry
        self._clock = clock
        self._presenter = presenter
        self._stream_metrics = stream_metrics

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec(
                "get_camera_list",
                self.get_camera_list,
                Role.viewer,
                summary="All cameras the caller may see.",
            ),
            MethodSpec(
                "get_camera_status",
                self.get_camera_status,
                Role.viewer,
                object_schema({"device": CAMERA_ID, "debug": {"type": "boolean"}}, ["device"]),
                camera_param="device",
                summary="One camera with its stream metrics and capabilities (debug: admins only).",
                example={"device": "camera1000"},
            ),
            MethodSpec(
                "get_camera_capabilities",
                self.get_camera_capabilities,
                Role.viewer,
                _DEVICE,
                camera_param="device",
                summary="Formats, resolutions and frame rates of one camera.",
                example={"device": "camera1000"},
            ),
        ]

    def get_camera_list(self, call: Call, params: dict) -> dict:
        principal = call.principal
        cameras = [c for c in self._registry.cameras() if principal.may_use_camera(c.id)]
        return {
            "cameras": [self._presenter.camera(c) for c in cameras],
            "total": len(cameras),
            "connected": sum(1 for c in cameras if c.status is CameraStatus.CONNECTED),
        }

    async def get_camera_status(self, call: Call, params: dict) -> dict:
        if params.get("debug") and call.principal.role < Role.admin:
            raise PermissionDenied(Role.admin.name, call.principal.role.name)
        camera = self._registry.get(params["device"])
        result = dict(self._presenter.camera(camera))
        uptime = 0
        if camera.status is CameraStatus.CONNECTED and camera.connected_at is not None:
            uptime = max(0, int(self._clock.seconds() - camera.connected_at))
        # uptime: of the camera; bytes and readers: of its stream, null when
        # MediaMTX cannot be asked right now.
        stream = await self._stream_metrics(camera.id) if self._stream_metrics is not None else None
        result["metrics"] = {
            "bytes_sent": stream["bytes_sent"] if stream else None,
            "readers": stream["readers"] if stream else None,
            "uptime": uptime,
        }
        result["capabilities"] = {"formats": list(camera.formats), "resolutions": list(camera.resolutions)}
        if params.get("debug"):
            result["debug"] = {
                "internal_device_path": camera.source,
                "kind": camera.kind.value,
                "validation_status": camera.validation_status.value,
                "error": camera.error,
            }
        return result

    def get_camera_capabilities(self, call: Call, params: dict) -> dict:
        camera = self._registry.get(params["device"])
        return {
            "device": camera.id,
            "formats": list(camera.formats),
            "resolutions": list(camera.resolutions),
            "fps_options": list(camera.fps_options),
            "validation_status": camera.validation_status.value,
        }
