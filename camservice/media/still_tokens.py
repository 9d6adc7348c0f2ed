"""Signed, short-lived still-image tokens:
``GET /cameras/{id}/snapshot.jpg?token=st1-<exp>-<mac>``.

For tools that can only be given a URL (Home Assistant's generic camera,
a dashboard's ``<img>``). The MAC covers the camera id and the expiry and
is derived from the stream key for a purpose of its own (``still``), so a
still-image token opens no stream and a stream token (``s1-...``) opens
no still image.
"""
from __future__ import annotations

import hmac
import re

from camservice.streamauth.secrets import StreamSecrets

__all__ = ["STILL_TOKEN_PREFIX", "StillTokenRefused", "StillTokens"]

STILL_TOKEN_PREFIX = "st1-"
_SHAPE = re.compile(r"st1-([0-9]{1,12})-([0-9a-f]{32})")


class StillTokenRefused(Exception):
    """A still-image token is not good for a camera.

    :ivar wrong_camera: well formed and unexpired, but not signed for this
        camera (HTTP 403 rather than 401).
    """

    def __init__(self, reason: str, wrong_camera: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.wrong_camera = wrong_camera


class StillTokens:
    """Mints and checks still-image tokens.

    :param secrets: the stream key's derived credentials.
    :param clock: ``IReactorTime``; ``seconds()`` is POSIX time.
    :param ttl: seconds a token stays valid (``media.still_token_ttl``).
    """

    def __init__(self, secrets: StreamSecrets, clock, ttl: int):
        self._secrets = secrets
        self._clock = clock
        self.ttl = int(ttl)

    def set_ttl(self, ttl: int) -> None:
        """Mint tokens valid ``ttl`` seconds from now on (a reload)."""
        self.ttl = int(ttl)

    def mint(self, camera_id: str) -> tuple[str, int]:
        """``(token, expires_at)`` for ``camera_id``; ``expires_at`` is
        POSIX seconds."""
        expires = int(self._clock.seconds()) + self.ttl
        return f"{STILL_TOKEN_PREFIX}{expires}-{self._mac(camera_id, expires)}", expires

    def check(self, token: str, camera_id: str) -> None:
        """Accept ``token`` for a still image of ``camera_id`` or say why not.

        :raises StillTokenRefused: malformed, expired, or not for this
            camera (``wrong_camera``).
        """
        match = _SHAPE.fullmatch(token)
        if match is None:
            raise StillTokenRefused("malformed still-image token")
        expires = int(match.group(1))
        if expires <= self._clock.seconds():
            raise StillTokenRefused("still-image token expired")
        if not hmac.compare_digest(match.group(2), self._mac(camera_id, expires)):
            raise StillTokenRefused("still-image token is not valid for this camera", wrong_camera=True)

    def _mac(self, camera_id: str, expires: int) -> str:
        return self._secrets.derive("still", camera_id, str(expires))
