"""Why a media operation cannot be done; ``camservice.rpc.errors`` maps
each to its JSON-RPC error."""
from __future__ import annotations

__all__ = [
    "CameraNotConnected",
    "MediaError",
    "NotStreamable",
    "NotStreaming",
    "SourceDidNotStart",
]


class MediaError(Exception):
    """Base of the media side's refusals."""


class NotStreamable(MediaError):
    """The camera's kind has no source camservice can run."""

    def __init__(self, camera_id: str, kind: str):
        super().__init__(f"{camera_id}: no source for {kind} cameras")
        self.camera_id, self.kind = camera_id, kind


class CameraNotConnected(MediaError):
    """The operation needs a connected camera.

    :ivar status: the camera's status (``DISCONNECTED`` or ``ERROR``).
    """

    def __init__(self, camera_id: str, status: str):
        super().__init__(f"{camera_id} is {status}")
        self.camera_id, self.status = camera_id, status


class NotStreaming(MediaError):
    """``stop_streaming`` for a camera ``start_streaming`` did not start."""

    def __init__(self, camera_id: str):
        super().__init__(f"{camera_id} is not kept streaming")
        self.camera_id = camera_id


class SourceDidNotStart(MediaError):
    """The camera's source did not publish in time.

    :ivar dependency: what failed to start (``ffmpeg`` for a virtual
        camera's generator, ``camera`` for a device or network source).
    """

    def __init__(self, camera_id: str, dependency: str, timeout: float):
        super().__init__(f"{camera_id}: the source did not start publishing within {timeout:g} s")
        self.camera_id, self.dependency, self.timeout = camera_id, dependency, timeout
