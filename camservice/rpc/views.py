"""How service objects look on the wire (API.md's result shapes)."""
from __future__ import annotations

from typing import Callable, Optional

from camservice.cameras.model import Camera, CameraKind

__all__ = ["CameraPresenter", "NO_STREAMS"]

#: A camera no media server serves: the keys are there, the URLs not.
NO_STREAMS = {"rtsp": None, "hls": None, "webrtc": None}
_STREAMED = (CameraKind.VIRTUAL, CameraKind.NETWORK, CameraKind.USB)


class CameraPresenter:
    """Renders API.md's Camera: ``{device, status, name, resolution, fps,
    streams}``.

    :param stream_urls: ``path -> {rtsp, hls, webrtc}`` for cameras that
        MediaMTX serves, or ``None`` when no media server is configured.
    """

    def __init__(self, stream_urls: Optional[Callable[[str], dict]] = None):
        self._stream_urls = stream_urls
        # camera id -> (the Camera rendered, its view); cameras are
        # immutable and replaced on change, so identity says "unchanged"
        self._views: dict[str, tuple[Camera, dict]] = {}

    def streams(self, camera: Camera) -> dict:
        if self._stream_urls is None or camera.kind not in _STREAMED:
            return dict(NO_STREAMS)
        return self._stream_urls(camera.id)

    def camera(self, camera: Camera) -> dict:
        """The Camera object; shared between calls: copy it to change it."""
        cached = self._views.get(camera.id)
        if cached is not None and cached[0] is camera:
            return cached[1]
        view = self._render(camera)
        self._views[camera.id] = (camera, view)
        return view

    def _render(self, camera: Camera) -> dict:
        return {
            "device": camera.id,
            "status": camera.status.value,
            "name": camera.name,
            "resolution": camera.resolution,
            "fps": camera.fps,
            "streams": self.streams(camera),
        }
