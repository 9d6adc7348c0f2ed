"""Authentication and authorisation failures."""
from __future__ import annotations

from typing import Optional

__all__ = ["AuthenticationError", "PermissionDenied"]


class AuthenticationError(Exception):
    """A token or key was missing, invalid or expired.

    :ivar reason: a short, client-safe explanation (never the token).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PermissionDenied(Exception):
    """The caller's role is too low, or the camera is not allowed to it."""

    def __init__(self, required_role: Optional[str], have_role: Optional[str], camera: Optional[str] = None):
        super().__init__(required_role, have_role, camera)
        self.required_role = required_role
        self.have_role = have_role
        self.camera = camera
