"""Why a media operation cannot be done; ``camservice.rpc.errors`` maps
each to its JSON-RPC error."""
from __future__ import annotations

__all__ = [
    "AlreadyRecording",
    "CameraNotConnected",
    "CaptureFailed",
    "InvalidMediaName",
    "MediaError",
    "MediaFileExists",
    "MediaFileNotFound",
    "NotRecording",
    "NotStreamable",
    "NotStreaming",
    "SourceDidNotStart",
    "StorageCritical",
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


class AlreadyRecording(MediaError):
    """One recording per camera at a time."""

    def __init__(self, camera_id: str, filename: str):
        super().__init__(f"{camera_id} is already recording {filename}")
        self.camera_id, self.filename = camera_id, filename


class NotRecording(MediaError):
    """``stop_recording`` for a camera that is not recording."""

    def __init__(self, camera_id: str):
        super().__init__(f"{camera_id} is not recording")
        self.camera_id = camera_id


class StorageCritical(MediaError):
    """The media filesystem is at or beyond ``media.storage`` block
    threshold: nothing new is written.

    :ivar detail: the figures, for the client (``"97.1% used, 120 MB free"``).
    """

    def __init__(self, detail: str):
        super().__init__(f"storage critical: {detail}")
        self.detail = detail


class MediaFileNotFound(MediaError):
    """No finalized file of that name (files being written do not count).

    :ivar kind: ``recording`` or ``snapshot``.
    """

    def __init__(self, kind: str, name: str):
        super().__init__(f"no {kind} named {name}")
        self.kind, self.name = kind, name


class MediaFileExists(MediaError):
    """A file of that name exists: it is never overwritten."""

    def __init__(self, kind: str, name: str):
        super().__init__(f"a {kind} named {name} exists")
        self.kind, self.name = kind, name


class CaptureFailed(MediaError):
    """FFmpeg could not capture or write the media.

    :ivar detail: FFmpeg's last words, or what timed out.
    """

    def __init__(self, camera_id: str, detail: str):
        super().__init__(f"{camera_id}: {detail}")
        self.camera_id, self.detail = camera_id, detail


class InvalidMediaName(MediaError):
    """A file name a client gave breaks the naming rules (API.md: a
    plain name, at most 255 bytes).

    :ivar param: the param that carried it.
    :ivar rule: the rule broken, in words.
    """

    def __init__(self, param: str, rule: str):
        super().__init__(f"{param} {rule}")
        self.param, self.rule = param, rule
