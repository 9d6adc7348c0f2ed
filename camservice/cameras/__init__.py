"""The camera table and where cameras come from."""
from camservice.cameras.errors import CameraLimitReached, UnknownCamera
from camservice.cameras.model import Camera, CameraKind, CameraStatus, ValidationStatus
from camservice.cameras.registry import CameraRegistry

__all__ = [
    "Camera",
    "CameraKind",
    "CameraLimitReached",
    "CameraRegistry",
    "CameraStatus",
    "UnknownCamera",
    "ValidationStatus",
]
