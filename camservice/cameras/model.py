"""The camera as the service knows it (API.md's Camera, plus internals)."""
from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from typing import Optional

__all__ = ["CAMERA_ID", "Camera", "CameraKind", "CameraStatus", "ValidationStatus", "camera_number"]

CAMERA_ID = re.compile(r"^camera[0-9]+$")


def camera_number(camera_id: str) -> int:
    """``camera12`` -> 12 (ids sort by number, not as text)."""
    return int(camera_id[6:])


class CameraStatus(str, enum.Enum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


class ValidationStatus(str, enum.Enum):
    """Whether the capabilities were confirmed by probing the source."""

    NONE = "NONE"
    CONFIRMED = "CONFIRMED"
    DISCONNECTED = "DISCONNECTED"


class CameraKind(str, enum.Enum):
    USB = "usb"
    VIRTUAL = "virtual"
    NETWORK = "network"


@dataclass(frozen=True)
class Camera:
    """One camera; immutable, replaced on every change.

    :ivar source: the device path or stream URL; internal, shown to admins
        only in debug output.
    :ivar streams: ``{rtsp, hls, webrtc}`` URLs once a media server serves
        the camera, else ``None``.
    :ivar error: why the camera is in ``ERROR``.
    :ivar connected_at: POSIX time it last became ``CONNECTED``.
    :ivar input_format: the V4L2 format captured (USB cameras).
    :ivar encoder: an encoder for this camera instead of the default.
    :ivar identity: serial, port path, vendor and product id (USB).
    """

    id: str
    kind: CameraKind
    name: str
    status: CameraStatus
    resolution: str
    fps: int
    formats: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    fps_options: tuple[int, ...] = ()
    validation_status: ValidationStatus = ValidationStatus.NONE
    source: Optional[str] = None
    streams: Optional[dict] = None
    error: Optional[str] = None
    connected_at: Optional[float] = None
    input_format: Optional[str] = None
    encoder: Optional[str] = None
    identity: Optional[dict] = None

    def replace(self, **changes) -> "Camera":
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)
