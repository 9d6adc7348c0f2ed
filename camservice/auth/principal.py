"""Who a caller is once authenticated."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from camservice.auth.roles import Role

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    :ivar user_id: the JWT's ``user_id`` (or ``sub``), or ``key:<id>`` for
        an API key.
    :ivar expires_at: POSIX time after which the credential is no longer
        valid, or ``None`` for a key without expiry.
    :ivar cameras: the camera ids this caller may use, or ``None`` for all.
    :ivar method: ``"jwt"``, ``"api_key"`` or ``"certificate"``.
    :ivar key_id: the API key's id (``None`` otherwise).
    :ivar credential_id: names the credential in session listings without
        revealing it: the key id, the JWT's ``jti`` (else a hash of its
        signature), or the certificate's SHA-256 fingerprint. Not part of
        equality: the same caller with a fresh token is the same caller.
    """

    user_id: str
    role: Role
    expires_at: Optional[float]
    cameras: Optional[frozenset[str]] = None
    method: str = "jwt"
    key_id: Optional[str] = None
    credential_id: Optional[str] = field(default=None, compare=False)

    def may_use_camera(self, camera_id: str) -> bool:
        """Whether this caller's camera allow list admits ``camera_id``."""
        return self.cameras is None or camera_id in self.cameras
