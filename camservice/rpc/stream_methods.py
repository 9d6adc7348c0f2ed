"""``start_streaming``, ``stop_streaming``, ``get_stream_url``,
``get_stream_status``, ``get_streams``: cameras as MediaMTX streams."""
from __future__ import annotations

from typing import Optional

from twisted.internet import task

from camservice.auth.roles import Role
from camservice.cameras.model import CameraKind, CameraStatus
from camservice.cameras.registry import CameraRegistry
from camservice.cameras.model import camera_number
from camservice.mediamtx.controller import MediaMTXController
from camservice.mediamtx.errors import MediaMTXError
from camservice.mediamtx.holders import StreamHolders
from camservice.mediamtx.paths import path_figures
from camservice.mediamtx.sources import OWNED_PATH
from camservice.mediamtx.urls import StreamLocator
from camservice.rpc.dispatcher import Call
from camservice.rpc.errors import DependencyFailed, InvalidState, Unsupported
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import CAMERA_ID
from camservice.timeutil import iso_timestamp

__all__ = ["StreamMethods"]

_DEVICE = object_schema({"device": CAMERA_ID}, ["device"])
_STREAMED = (CameraKind.VIRTUAL, CameraKind.NETWORK, CameraKind.USB)


def _dependency(error: MediaMTXError) -> DependencyFailed:
    return DependencyFailed(dependency="mediamtx", detail=error.detail, reason="MediaMTX failed or is unreachable")


class StreamMethods:
    """Streams of cameras, served by MediaMTX.

    Reader counts leave out camservice's own keep-alive reader of a camera
    that is streaming because of ``start_streaming``.

    :param holders: keeps sources running between ``start_streaming`` and
        ``stop_streaming``.
    :param poll_interval: seconds between readiness checks while waiting
        for a source to start.
    """

    def __init__(
        self,
        registry: CameraRegistry,
        controller: MediaMTXController,
        holders: StreamHolders,
        locator: StreamLocator,
        clock,
        poll_interval: float = 0.05,
    ):
        self._registry = registry
        self._controller = controller
        self._holders = holders
        self._locator = locator
        self._clock = clock
        self._poll = poll_interval
        #: camera id -> POSIX time start_streaming made it always-on
        self.started: dict[str, float] = {}

    def specs(self) -> list[MethodSpec]:
        example = {"device": "camera1000"}
        return [
            MethodSpec("start_streaming", self.start_streaming, Role.operator, _DEVICE, camera_param="device",
                       audit=("device",),
                       summary="Run the camera's source now and keep it running; answers once it publishes.",
                       example=example),
            MethodSpec("stop_streaming", self.stop_streaming, Role.operator, _DEVICE, camera_param="device",
                       audit=("device",),
                       summary="Back to on-demand: the source stops once its last reader leaves.",
                       example=example),
            MethodSpec("get_stream_url", self.get_stream_url, Role.viewer, _DEVICE, camera_param="device",
                       summary="The camera's RTSP URL and whether it is playable now.", example=example),
            MethodSpec("get_stream_status", self.get_stream_status, Role.viewer, _DEVICE, camera_param="device",
                       summary="The camera's stream in detail, from MediaMTX.", example=example),
            MethodSpec("get_streams", self.get_streams, Role.viewer,
                       summary="Every camera stream MediaMTX serves."),
        ]

    def _streamable(self, camera_id: str, need_connected: bool = True):
        camera = self._registry.get(camera_id)
        if camera.kind not in _STREAMED:
            raise Unsupported(feature=f"streaming {camera.kind.value} cameras", reason="no source for this kind yet")
        if need_connected and camera.status is not CameraStatus.CONNECTED:
            raise InvalidState(
                state=f"camera_{camera.status.value.lower()}",
                allowed_states=["CONNECTED"],
                reason="the camera is not connected",
            )
        return camera

    async def start_streaming(self, call: Call, params: dict) -> dict:
        camera = self._streamable(params["device"])
        newly = not self._holders.holds(camera.id)
        self._holders.hold(camera.id)
        if newly:
            self.started[camera.id] = self._clock.seconds()
        try:
            ready = await self._wait_ready(camera.id, self._controller.config.source_start_timeout)
        except MediaMTXError as e:
            if newly:
                await self._holders.release(camera.id)
            raise _dependency(e)
        if not ready:
            if newly:
                await self._holders.release(camera.id)
            raise DependencyFailed(
                dependency="ffmpeg" if camera.kind is CameraKind.VIRTUAL else "camera",
                detail=f"the source did not start publishing within {self._controller.config.source_start_timeout} s",
                reason="the camera's source did not start",
            )
        return {
            "device": camera.id,
            "stream_name": camera.id,
            "stream_url": self._locator.url(camera.id),
            "status": "STARTED",
            "start_time": iso_timestamp(self.started[camera.id]),
            "auto_close_after": None,
        }

    async def _wait_ready(self, camera_id: str, timeout: float) -> bool:
        """Wait until the source publishes and camservice's keep-alive
        reader is connected (from then on the stream stays up)."""
        deadline = self._clock.seconds() + timeout
        while True:
            _path, figures = await self._stream(camera_id)
            if figures["ready"] and figures["kept_alive"]:
                return True
            if self._clock.seconds() >= deadline:
                return False
            await task.deferLater(self._clock, self._poll, lambda: None)

    async def _stream(self, camera_id: str):
        """``(path, figures)`` of the camera's stream, readers counted
        without camservice's own keep-alive reader.

        :raises MediaMTXError: MediaMTX cannot be asked.
        """
        path = await self._controller.path(camera_id)
        own = await self._controller.keepalive_readers(camera_id) if self._holders.holds(camera_id) else 0
        figures = path_figures(path, self._clock.seconds())
        figures["readers"] = max(0, figures["readers"] - own)
        figures["kept_alive"] = own > 0
        return path, figures

    async def stop_streaming(self, call: Call, params: dict) -> dict:
        camera = self._streamable(params["device"], need_connected=False)
        if not self._holders.holds(camera.id):
            raise InvalidState(state="not_streaming", allowed_states=["streaming"],
                               reason="start_streaming was not called for this camera")
        try:
            # before the release: figures leave out our own reader while held
            _path, figures = await self._stream(camera.id)
        except MediaMTXError as e:
            raise _dependency(e)
        await self._holders.release(camera.id)
        start = self.started.pop(camera.id, self._clock.seconds())
        end = self._clock.seconds()
        return {
            "device": camera.id,
            "stream_name": camera.id,
            "status": "STOPPED",
            "start_time": iso_timestamp(start),
            "end_time": iso_timestamp(end),
            "duration": int(end - start),
            "stream_continues": figures["ready"] and figures["readers"] > 0,
        }

    async def get_stream_url(self, call: Call, params: dict) -> dict:
        camera = self._streamable(params["device"], need_connected=False)
        try:
            _path, figures = await self._stream(camera.id)
            status = "READY" if figures["ready"] else "NOT_READY"
        except MediaMTXError:
            figures, status = path_figures(None, 0), "ERROR"
        return {
            "device": camera.id,
            "stream_name": camera.id,
            "stream_url": self._locator.url(camera.id),
            "available": figures["ready"],
            "active_consumers": figures["readers"],
            "stream_status": status,
        }

    async def get_stream_status(self, call: Call, params: dict) -> dict:
        camera = self._streamable(params["device"], need_connected=False)
        try:
            path, f = await self._stream(camera.id)
        except MediaMTXError as e:
            raise _dependency(e)
        always_on = self._holders.holds(camera.id)
        if camera.status is CameraStatus.ERROR:
            status = "ERROR"
        elif f["ready"]:
            status = "ACTIVE"
        else:
            status = "STARTING" if always_on else "INACTIVE"
        return {
            "device": camera.id,
            "stream_name": camera.id,
            "status": status,
            "ready": f["ready"],
            # The source is run by MediaMTX; its pid is not exposed.
            "ffmpeg_process": {"running": f["ready"], "pid": None, "uptime": f["uptime"]},
            "mediamtx_path": {"exists": path is not None, "ready": f["ready"], "readers": f["readers"]},
            # MediaMTX counts bytes, not frames: frames_sent is unknown.
            "metrics": {
                "bytes_sent": f["bytes_out"],
                "frames_sent": None,
                "bitrate": f["bitrate"],
                "fps": camera.fps if f["ready"] else 0,
            },
            "start_time": (
                iso_timestamp(self.started[camera.id])
                if always_on and camera.id in self.started
                else None
            ),
        }

    async def get_streams(self, call: Call, params: dict) -> list:
        try:
            paths = await self._controller.all_paths()
            held = {name: await self._controller.keepalive_readers(name)
                    for name in paths if self._holders.holds(name)}
        except MediaMTXError as e:
            raise _dependency(e)
        now = self._clock.seconds()
        out = []
        names = [n for n in paths if OWNED_PATH.match(n) and call.principal.may_use_camera(n)]
        for name in sorted(names, key=camera_number):
            f = path_figures(paths[name], now)
            f["readers"] = max(0, f["readers"] - held.get(name, 0))
            out.append({"name": name, "source": f["source"], "ready": f["ready"],
                        "readers": f["readers"], "bytes_sent": f["bytes_out"]})
        return out

    async def camera_metrics(self, camera_id: str) -> Optional[dict]:
        """For ``get_camera_status``: ``{bytes_sent, readers, uptime}`` of
        the camera's stream, or ``None`` when MediaMTX cannot be asked."""
        try:
            _path, f = await self._stream(camera_id)
        except MediaMTXError:
            return None
        return {"bytes_sent": f["bytes_out"], "readers": f["readers"], "uptime": f["uptime"]}
