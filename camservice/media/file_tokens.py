"""Signed, short-lived download tokens:
``GET /files/{kind}/{name}?token=ft1.<expiry>.<role>.<user>.<key>.<file>.<mac>``.

A browser streams a download itself (and asks for ranges itself) only
from a plain link, and a link carries no ``Authorization`` header. So
``get_download_url`` mints a token that opens one file for five minutes
instead of putting the caller's JWT or API key into a URL.

The token names the caller (``user``, base64url), the role and the API
key (``-`` for a JWT) it was minted for, and a tag of the file (``kind``
and name); the MAC, derived from the stream key for a purpose of its own
(``file``), covers all of them. So a token that was changed is refused as
not valid (401), and a valid token for another file as not allowed (403).
A link never outlives the credential that asked for it: it expires with
a JWT or API key that expires sooner, and ``/files`` refuses it once its
API key is revoked. Still-image and stream tokens open no file, and a
download token opens neither.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from typing import Optional

from camservice.auth.roles import Role
from camservice.streamauth.secrets import StreamSecrets

__all__ = ["DOWNLOAD_TOKEN_TTL", "FILE_TOKEN_PREFIX", "FileTokenRefused", "FileTokens", "TokenHolder"]

#: seconds a download token stays valid
DOWNLOAD_TOKEN_TTL = 300
FILE_TOKEN_PREFIX = "ft1."
_SHAPE = re.compile(
    r"ft1\.([0-9]{1,12})\.([a-z]{1,16})\.([A-Za-z0-9_-]{1,400})\.(-|[A-Za-z0-9_]{1,64})\.([0-9a-f]{16})\.([0-9a-f]{32})")
#: the key field of a token minted for a JWT
_NO_KEY = "-"


class FileTokenRefused(Exception):
    """A download token is not good for a file: not valid (from
    :meth:`FileTokens.verify`, HTTP 401) or for another file (from
    :meth:`FileTokens.check_file`, HTTP 403)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenHolder:
    """Whom an accepted token was minted for (and with which API key,
    ``None`` for a JWT), and its file's tag."""

    user_id: str
    role: Role
    key_id: Optional[str]
    file_tag: str


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")


class FileTokens:
    """Mints and checks download tokens.

    :param secrets: the stream key's derived credentials.
    :param clock: ``IReactorTime``; ``seconds()`` is POSIX time.
    :param ttl: seconds a token stays valid.
    """

    def __init__(self, secrets: StreamSecrets, clock, ttl: int = DOWNLOAD_TOKEN_TTL):
        self._secrets = secrets
        self._clock = clock
        self.ttl = int(ttl)

    def mint(self, kind: str, name: str, user_id: str, role: Role, key_id: Optional[str] = None,
             not_after: Optional[float] = None) -> tuple[str, int]:
        """``(token, expires_at)`` opening the file ``kind``/``name`` for
        ``user_id`` with ``role`` (and API key ``key_id``); ``expires_at``
        is POSIX seconds, ``ttl`` from now or ``not_after`` (when the
        credential asking expires) if that is sooner."""
        expires = int(self._clock.seconds()) + self.ttl
        if not_after is not None:
            expires = min(expires, int(not_after))
        user = _b64(user_id)
        key = key_id or _NO_KEY
        tag = self._tag(kind, name)
        mac = self._mac(expires, role.name, user, key, tag)
        return f"{FILE_TOKEN_PREFIX}{expires}.{role.name}.{user}.{key}.{tag}.{mac}", expires

    def seconds_left(self, expires: int) -> int:
        """Seconds from now until ``expires`` (POSIX seconds)."""
        return max(0, expires - int(self._clock.seconds()))

    def verify(self, token: str) -> TokenHolder:
        """Whom ``token`` was minted for, whatever file it opens (so a
        request with a bad token learns nothing of the names it asks for;
        :meth:`check_file` then checks the file).

        :raises FileTokenRefused: malformed, changed or expired.
        """
        match = _SHAPE.fullmatch(token)
        if match is None:
            raise FileTokenRefused("malformed download token")
        expires_text, role_name, user, key, tag, mac = match.groups()
        expires = int(expires_text)
        if not hmac.compare_digest(mac, self._mac(expires, role_name, user, key, tag)):
            raise FileTokenRefused("download token is not valid")
        if expires <= self._clock.seconds():
            raise FileTokenRefused("download token expired")
        try:
            return TokenHolder(_unb64(user), Role.parse(role_name), None if key == _NO_KEY else key, tag)
        except (ValueError, binascii.Error, UnicodeDecodeError):  # signed by us: never seen
            raise FileTokenRefused("malformed download token")

    def check_file(self, holder: TokenHolder, kind: str, name: str) -> None:
        """Accept ``holder``'s token for the file ``kind``/``name``.

        :raises FileTokenRefused: it is for another file.
        """
        if not hmac.compare_digest(holder.file_tag, self._tag(kind, name)):
            raise FileTokenRefused("download token is for another file")

    def _tag(self, kind: str, name: str) -> str:
        return self._secrets.derive("file-name", kind, name)[:16]

    def _mac(self, expires: int, role_name: str, user: str, key: str, tag: str) -> str:
        return self._secrets.derive("file", str(expires), role_name, user, key, tag)
