"""``start_recording``, ``stop_recording``: thin calls into the recordings
service."""
from __future__ import annotations

from camservice.auth.roles import Role
from camservice.media.recordings import RecordingService
from camservice.media.sessions import FORMATS
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import CAMERA_ID

__all__ = ["RecordingMethods"]

_START = object_schema(
    {
        "device": CAMERA_ID,
        "duration": {"type": "integer", "minimum": 1, "maximum": 86400},
        "format": {"type": "string", "enum": sorted(FORMATS)},
    },
    ["device"],
)
_STOP = object_schema({"device": CAMERA_ID}, ["device"])


class RecordingMethods:
    """Recordings of cameras, made by MediaMTX, owned by the recordings
    service."""

    def __init__(self, recordings: RecordingService):
        self._recordings = recordings

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("start_recording", self.start_recording, Role.operator, _START, camera_param="device",
                       audit=("device", "duration", "format"),
                       summary="Record the camera until stop_recording or duration seconds; answers once "
                               "MediaMTX records.",
                       example={"device": "camera1000", "duration": 60, "format": "mp4"}),
            MethodSpec("stop_recording", self.stop_recording, Role.operator, _STOP, camera_param="device",
                       audit=("device",),
                       summary="Stop recording; answers once the file is finalized.",
                       example={"device": "camera1000"}),
        ]

    async def start_recording(self, call: Call, params: dict) -> dict:
        status = await self._recordings.start(params["device"], params.get("duration"), params.get("format"))
        return {key: status[key] for key in ("device", "filename", "status", "start_time", "format")}

    async def stop_recording(self, call: Call, params: dict) -> dict:
        return await self._recordings.stop(params["device"])
