"""Camera table errors."""

__all__ = ["CameraLimitReached", "UnknownCamera"]


class UnknownCamera(KeyError):
    """No camera has this id."""


class CameraLimitReached(Exception):
    """The table already holds ``cameras.max_cameras`` cameras."""
