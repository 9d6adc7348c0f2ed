"""JWTs: HS256 with the configured secret, algorithm pinned, ``exp`` required.

Time checks use the injected clock (so tests drive them with ``Clock``)
rather than PyJWT's wall clock.
"""
from __future__ import annotations

import hashlib
import math
import re
from typing import Iterable, Optional

import jwt

from camservice.auth.errors import AuthenticationError
from camservice.auth.principal import Principal
from camservice.auth.roles import Role

__all__ = ["ALGORITHM", "TokenAuthority", "looks_like_jwt"]

ALGORITHM = "HS256"
_CAMERA_ID = re.compile(r"^camera[0-9]+$")
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the three dot-separated parts of a JWS."""
    return bool(_JWT_SHAPE.match(token))


class TokenAuthority:
    """Issues and verifies the service's JWTs.

    :param secret: the HS256 secret.
    :param clock: an ``IReactorTime``; ``clock.seconds()`` is POSIX time.
    :param leeway: seconds of clock skew tolerated on ``exp`` and ``nbf``.
    """

    def __init__(self, secret: str, clock, leeway: float = 0):
        self._secret = secret
        self._clock = clock
        self._leeway = leeway

    def reconfigure(self, secret: str, leeway: float) -> None:
        """Verify with ``secret`` and ``leeway`` from now on (a reload);
        tokens signed with an older secret stop verifying."""
        self._secret = secret
        self._leeway = leeway

    def issue(
        self,
        user_id: str,
        role: Role,
        ttl: float,
        cameras: Optional[Iterable[str]] = None,
    ) -> str:
        """A signed token for ``user_id`` with ``role``, valid ``ttl`` seconds."""
        now = int(self._clock.seconds())
        claims = {"user_id": user_id, "role": role.name, "iat": now, "exp": now + int(ttl)}
        if cameras is not None:
            claims["cameras"] = sorted(cameras)
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        """Check ``token`` and say who it names.

        :raises AuthenticationError: with a reason a client may see.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthenticationError("malformed token")
        if header.get("alg") != ALGORITHM:
            raise AuthenticationError(f"unsupported token algorithm: {header.get('alg')!s:.20}")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={
                    "require": ["exp", "iat", "role"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.MissingRequiredClaimError as e:
            raise AuthenticationError(f"token lacks the {e.claim} claim")
        except jwt.InvalidSignatureError:
            raise AuthenticationError("token signature is invalid")
        except jwt.InvalidTokenError:
            raise AuthenticationError("malformed token")
        return self._principal(claims, token)

    def _principal(self, claims: dict, token: str) -> Principal:
        now = self._clock.seconds()
        for name in ("exp", "iat", "nbf"):
            if name in claims and (
                not isinstance(claims[name], (int, float))
                or isinstance(claims[name], bool)
                or not math.isfinite(claims[name])
            ):
                raise AuthenticationError(f"token claim {name} is not a number")
        if claims["exp"] + self._leeway <= now:
            raise AuthenticationError("token expired")
        if "nbf" in claims and claims["nbf"] - self._leeway > now:
            raise AuthenticationError("token not yet valid")
        if claims["iat"] - self._leeway > now:
            raise AuthenticationError("token issued in the future")
        try:
            role = Role.parse(claims["role"])
        except ValueError:
            raise AuthenticationError("token names an unknown role")
        user_id = claims.get("user_id", claims.get("sub"))
        if not isinstance(user_id, str) or not user_id:
            raise AuthenticationError("token lacks the user_id claim")
        cameras = claims.get("cameras")
        if cameras is not None:
            if not isinstance(cameras, list) or not all(
                isinstance(c, str) and _CAMERA_ID.match(c) for c in cameras
            ):
                raise AuthenticationError("token claim cameras is not a list of camera ids")
            cameras = frozenset(cameras)
        return Principal(
            user_id=user_id,
            role=role,
            # The moment this service stops accepting the token, used for
            # the session as well, so authenticate and later calls agree.
            expires_at=float(claims["exp"]) + self._leeway,
            cameras=cameras,
            method="jwt",
            credential_id=_credential_id(claims, token),
        )


def _credential_id(claims: dict, token: str) -> str:
    """The token's ``jti``, else a digest of its signature (the token
    itself is a secret and never shown)."""
    jti = claims.get("jti")
    if isinstance(jti, str) and 0 < len(jti) <= 128:
        return "jti:" + jti
    signature = token.rsplit(".", 1)[-1]
    return "sig:" + hashlib.sha256(signature.encode("ascii")).hexdigest()[:16]
