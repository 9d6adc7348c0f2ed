"""How service objects look on the wire (API.md's result shapes)."""
from __future__ import annotations

from camservice.cameras.model import Camera

__all__ = ["camera_view", "NO_STREAMS"]

#: A camera no media server serves (yet): the keys are there, the URLs not.
NO_STREAMS = {"rtsp": None, "hls": None, "webrtc": None}


def camera_view(camera: Camera) -> dict:
    """API.md's Camera: ``{device, status, name, resolution, fps, streams}``."""
    return {
        "device": camera.id,
        "status": camera.status.value,
        "name": camera.name,
        "resolution": camera.resolution,
        "fps": camera.fps,
        "streams": dict(camera.streams) if camera.streams else dict(NO_STREAMS),
    }
