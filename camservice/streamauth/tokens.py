"""Signed, short-lived stream tokens: what camservice puts into the stream
URLs it hands out (``?token=s1-<exp>-<mac>``).

A token names no camera in clear but is bound to one: its MAC covers the
camera id and the expiry, so a URL for one camera does not open another and
an edited expiry is refused.

Tokens are minted per *window* (a quarter of the TTL): every caller asking
for a camera's URL within one window gets the same token, so rendered
camera views can be cached and shared until the window turns. A token
minted in window ``w`` expires at the end of window ``w`` plus the TTL:
it lives at least ``ttl`` and at most ``ttl + window`` seconds.
"""
from __future__ import annotations

import hmac
import re
from typing import Optional

from camservice.streamauth.secrets import StreamSecrets

__all__ = ["READ_TOKEN_PREFIX", "StreamTokens", "TokenRefused"]

READ_TOKEN_PREFIX = "s1-"
_SHAPE = re.compile(r"s1-([0-9]{1,12})-([0-9a-f]{32})")


class TokenRefused(Exception):
    """A read token is not good for a camera; ``str()`` says why."""


class StreamTokens:
    """Mints and checks read tokens.

    :param secrets: the derived-credential source.
    :param clock: ``IReactorTime``; ``seconds()`` is POSIX time.
    :param ttl: seconds a token stays valid, at least (``streams.token_ttl``).
    """

    def __init__(self, secrets: StreamSecrets, clock, ttl: int):
        self._secrets = secrets
        self._clock = clock
        self.ttl = int(ttl)
        self.window_length = max(1, self.ttl // 4)
        # camera id -> (window, token)
        self._minted: dict[str, tuple[int, str]] = {}

    def set_ttl(self, ttl: int) -> None:
        """Mint tokens valid ``ttl`` seconds from now on (a reload); those
        handed out keep the expiry they carry."""
        self.ttl = int(ttl)
        self.window_length = max(1, self.ttl // 4)
        self._minted.clear()

    def window(self) -> int:
        """The current window's number; tokens change when it does."""
        return int(self._clock.seconds()) // self.window_length

    def read_token(self, camera_id: str) -> str:
        """The current token for reading ``camera_id``."""
        window = self.window()
        minted = self._minted.get(camera_id)
        if minted is not None and minted[0] == window:
            return minted[1]
        expires = (window + 1) * self.window_length + self.ttl
        token = f"{READ_TOKEN_PREFIX}{expires}-{self._mac(camera_id, expires)}"
        self._minted[camera_id] = (window, token)
        return token

    def expires_at(self, token: str) -> Optional[int]:
        """POSIX time ``token`` expires, or ``None`` if it is not one."""
        match = _SHAPE.fullmatch(token)
        return int(match.group(1)) if match else None

    def check(self, token: str, camera_id: str) -> None:
        """Accept ``token`` for reading ``camera_id`` or say why not.

        :raises TokenRefused: malformed, not for this camera (or forged),
            or expired.
        """
        match = _SHAPE.fullmatch(token)
        if match is None:
            raise TokenRefused("malformed stream token")
        expires = int(match.group(1))
        if not hmac.compare_digest(match.group(2), self._mac(camera_id, expires)):
            raise TokenRefused("stream token is not valid for this camera")
        if expires <= self._clock.seconds():
            raise TokenRefused("stream token expired")

    def forget(self, camera_id: str) -> None:
        """Drop the cached token of a camera that is gone."""
        self._minted.pop(camera_id, None)

    def _mac(self, camera_id: str, expires: int) -> str:
        return self._secrets.derive("read", camera_id, str(expires))
