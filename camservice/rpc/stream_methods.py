"""``start_streaming``, ``stop_streaming``, ``get_stream_url``,
``get_stream_status``, ``get_streams``: thin calls into the stream manager."""
from __future__ import annotations

from camservice.auth.roles import Role
from camservice.cameras.model import CameraStatus
from camservice.media.errors import NotStreaming
from camservice.media.streams import StreamManager
from camservice.mediamtx.errors import MediaMTXError
from camservice.mediamtx.paths import path_figures
from camservice.mediamtx.urls import StreamLocator
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import CAMERA_ID
from camservice.timeutil import iso_timestamp

__all__ = ["StreamMethods"]

_DEVICE = object_schema({"device": CAMERA_ID}, ["device"])

#: the hold ``start_streaming`` puts on a stream
STREAMING = "streaming"


class StreamMethods:
    """Streams of cameras, served by MediaMTX, run by the stream manager.

    Reader counts leave out camservice's own keep-alive reader.
    """

    def __init__(self, streams: StreamManager, locator: StreamLocator, clock, recording=None):
        """:param recording: ``camera_id -> dict or None``: the camera's
            recording now (the recordings service's ``status``)."""
        self._streams = streams
        self._locator = locator
        self._clock = clock
        self._recording = recording

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

    async def start_streaming(self, call: Call, params: dict) -> dict:
        camera_id = params["device"]
        began = await self._streams.keep_running(camera_id, STREAMING)
        return {
            "device": camera_id,
            "stream_name": camera_id,
            "stream_url": self._locator.url(camera_id),
            "status": "STARTED",
            "start_time": iso_timestamp(began),
            "auto_close_after": None,
        }

    async def stop_streaming(self, call: Call, params: dict) -> dict:
        camera = self._streams.streamable(params["device"], need_connected=False)
        if not self._streams.holds(camera.id, STREAMING):
            raise NotStreaming(camera.id)
        # before letting go: while held, figures leave out our own reader
        _path, figures = await self._streams.figures(camera.id)
        start = await self._streams.let_go(camera.id, STREAMING)
        end = self._clock.seconds()
        start = end if start is None else start
        return {
            "device": camera.id,
            "stream_name": camera.id,
            "status": "STOPPED",
            "start_time": iso_timestamp(start),
            "end_time": iso_timestamp(end),
            "duration": int(end - start),
            "stream_continues": figures["ready"] and (figures["readers"] > 0 or self._streams.holds(camera.id)),
        }

    async def get_stream_url(self, call: Call, params: dict) -> dict:
        camera = self._streams.streamable(params["device"], need_connected=False)
        try:
            _path, figures = await self._streams.figures(camera.id)
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
        camera = self._streams.streamable(params["device"], need_connected=False)
        path, f = await self._streams.figures(camera.id)
        held = self._streams.holds(camera.id)
        if camera.status is CameraStatus.ERROR:
            status = "ERROR"
        elif f["ready"]:
            status = "ACTIVE"
        else:
            status = "STARTING" if held else "INACTIVE"
        began = self._streams.since(camera.id, STREAMING)
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
            "start_time": iso_timestamp(began) if began is not None else None,
            "recording": self._recording(camera.id) if self._recording is not None else None,
        }

    async def get_streams(self, call: Call, params: dict) -> list:
        return await self._streams.all_streams(call.principal.may_use_camera)
