"""Cameras that exist because the configuration declares them."""
from __future__ import annotations

from camservice.cameras.model import Camera, CameraKind, CameraStatus, ValidationStatus
from camservice.config.model import DeclaredCamera

__all__ = ["camera_from_declaration"]


def camera_from_declaration(declared: DeclaredCamera) -> Camera:
    """The table entry for a declared camera.

    A virtual camera is a test pattern that camservice generates itself, so
    its one mode is known for certain (``CONFIRMED``). A network camera's
    mode is what the config claims until its stream is probed (``NONE``).
    """
    if declared.kind == "virtual":
        return Camera(
            id=declared.id,
            kind=CameraKind.VIRTUAL,
            name=declared.name,
            status=CameraStatus.CONNECTED,
            resolution=declared.resolution,
            fps=declared.fps,
            formats=("H264",),
            resolutions=(declared.resolution,),
            fps_options=(declared.fps,),
            validation_status=ValidationStatus.CONFIRMED,
            source=f"testsrc:{declared.resolution}@{declared.fps}",
        )
    return Camera(
        id=declared.id,
        kind=CameraKind.NETWORK,
        name=declared.name,
        status=CameraStatus.CONNECTED,
        resolution=declared.resolution,
        fps=declared.fps,
        validation_status=ValidationStatus.NONE,
        source=declared.url,
    )
