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

    Views are cached per camera and shared by every caller (a caller only
    gets cameras it may see, and the URLs' tokens are per camera, not per
    caller).

    :param stream_urls: ``path -> {rtsp, hls, webrtc}`` for cameras that
        MediaMTX serves, or ``None`` when no media server is configured.
    :param epoch: ``() -> int`` that changes whenever the stream URLs do
        (signed URLs get a new token each window); a cached view from
        another epoch is rendered again.
    """

    def __init__(
        self,
        stream_urls: Optional[Callable[[str], dict]] = None,
        epoch: Optional[Callable[[], int]] = None,
    ):
        self._stream_urls = stream_urls
        self._epoch = epoch or (lambda: 0)
        # camera id -> (the Camera rendered, the epoch, its view); cameras
        # are immutable and replaced on change, so identity says "unchanged"
        self._views: dict[str, tuple[Camera, int, dict]] = {}

    def streams(self, camera: Camera) -> dict:
        if self._stream_urls is None or camera.kind not in _STREAMED:
            return dict(NO_STREAMS)
        return self._stream_urls(camera.id)

    def camera(self, camera: Camera) -> dict:
        """The Camera object; shared between calls: copy it to change it."""
        epoch = self._epoch()
        cached = self._views.get(camera.id)
        if cached is not None and cached[0] is camera and cached[1] == epoch:
            return cached[2]
        view = self._render(camera)
        self._views[camera.id] = (camera, epoch, view)
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
