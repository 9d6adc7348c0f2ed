"""API keys: opaque secrets of which only salted hashes are stored.

Keys are 256-bit random strings, so a salted SHA-256 is enough to make the
file useless to a thief (there is nothing to brute-force), and checking a
key costs microseconds. Comparison is constant-time. The file is rewritten
atomically, so ``camservice-admin keys add`` and a running service can share
it; the service re-reads it whenever it changes.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

from camservice.auth.errors import AuthenticationError
from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.auth.tokens import looks_like_jwt
from camservice.fileutil import atomic_write, ensure_dir

__all__ = ["ApiKey", "ApiKeyStore", "MIN_KEY_LENGTH", "generate_key"]

MIN_KEY_LENGTH = 32
_FORMAT_VERSION = 1


def generate_key() -> str:
    """A new random API key (47 characters, 256 bits of entropy)."""
    return "csk_" + secrets.token_urlsafe(32)


def _digest(salt: bytes, key: str) -> bytes:
    return hashlib.sha256(salt + key.encode("utf-8")).digest()


def _iso(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class ApiKey:
    """One stored key: everything but the key itself."""

    id: str
    name: str
    role: str
    salt: str
    hash: str
    created_at: str
    expires_at: Optional[str] = None
    cameras: Optional[tuple[str, ...]] = None

    def public(self) -> dict:
        """The entry without salt and hash, for listings."""
        d = asdict(self)
        del d["salt"], d["hash"]
        d["cameras"] = list(self.cameras) if self.cameras is not None else None
        return d


class ApiKeyStore:
    """The API keys file.

    :param path: the JSON file (created on first ``add``, mode 0600).
    :param clock: ``IReactorTime``; ``seconds()`` is POSIX time.
    """

    def __init__(self, path: Path, clock):
        self._path = Path(path)
        self._clock = clock
        self._stamp: Optional[tuple] = None
        self._keys: tuple[ApiKey, ...] = ()
        self._expiries: Optional[dict[str, Optional[float]]] = None

    @property
    def path(self) -> Path:
        return self._path

    def set_path(self, path: Path) -> None:
        """Read keys from ``path`` from now on (a reload)."""
        if Path(path) != self._path:
            self._path = Path(path)
            self._stamp, self._keys, self._expiries = None, (), None

    def keys(self) -> tuple[ApiKey, ...]:
        """Every stored key, re-reading the file if it changed.

        :raises ValueError: if the file exists but cannot be parsed.
        """
        self._refresh()
        return self._keys

    def add(
        self,
        role: Role,
        name: str = "",
        expires_at: Optional[float] = None,
        cameras: Optional[Iterable[str]] = None,
        key: Optional[str] = None,
    ) -> tuple[str, ApiKey]:
        """Store a new key.

        :param key: an existing key to import (at least 32 characters);
            ``None`` generates one.
        :returns: the key (shown once, never stored) and its entry.
        :raises ValueError: for a key that is too short, or shaped like a
            JWT (it would be checked as a token and never match).
        """
        if key is None:
            key = generate_key()
        elif len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"an API key must be at least {MIN_KEY_LENGTH} characters long")
        elif looks_like_jwt(key):
            raise ValueError("an API key must not look like a JWT (three dot-separated parts)")
        salt = secrets.token_bytes(16)
        existing = self.keys()
        ids = {k.id for k in existing}
        key_id = "key_" + secrets.token_hex(4)
        while key_id in ids:
            key_id = "key_" + secrets.token_hex(4)
        entry = ApiKey(
            id=key_id,
            name=name,
            role=role.name,
            salt=salt.hex(),
            hash=_digest(salt, key).hex(),
            created_at=_iso(self._clock.seconds()),
            expires_at=_iso(expires_at),
            cameras=tuple(sorted(cameras)) if cameras is not None else None,
        )
        self._save(existing + (entry,))
        return key, entry

    def revoke(self, key_id: str) -> bool:
        """Delete key ``key_id``; ``False`` if there is no such key."""
        existing = self.keys()
        kept = tuple(k for k in existing if k.id != key_id)
        if len(kept) == len(existing):
            return False
        self._save(kept)
        return True

    def verify(self, key: str) -> Principal:
        """Find the stored key matching ``key``.

        :raises AuthenticationError: unknown or expired key.
        """
        try:
            stored = self.keys()
        except ValueError:
            raise AuthenticationError("API keys are unavailable")
        match = None
        for entry in stored:
            # Every entry is hashed and compared: the time taken does not
            # depend on which entry (if any) matches.
            if hmac.compare_digest(_digest(bytes.fromhex(entry.salt), key).hex(), entry.hash):
                match = entry
        if match is None or len(key) < MIN_KEY_LENGTH:
            raise AuthenticationError("unknown API key")
        expires = _epoch(match.expires_at)
        if expires is not None and expires <= self._clock.seconds():
            raise AuthenticationError("API key expired")
        return Principal(
            user_id="key:" + match.id,
            role=Role.parse(match.role),
            expires_at=expires,
            cameras=frozenset(match.cameras) if match.cameras is not None else None,
            method="api_key",
            key_id=match.id,
            credential_id=match.id,
        )

    def holds(self, key_id: str) -> bool:
        """Whether key ``key_id`` is stored (not revoked): what a download
        link minted for that key is checked against as it is opened.
        ``False`` while the file cannot be read, as :meth:`verify`
        refuses every key then."""
        try:
            return key_id in self.expiries()
        except ValueError:
            return False

    def expiries(self) -> dict[str, Optional[float]]:
        """Key id -> expiry (POSIX seconds, ``None`` for never) of every
        stored key, re-reading the file if it changed. A key id missing
        here was revoked.

        :raises ValueError: if the file exists but cannot be parsed.
        """
        self._refresh()
        if self._expiries is None:
            self._expiries = {k.id: _epoch(k.expires_at) for k in self._keys}
        return self._expiries

    def _refresh(self) -> None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            if self._stamp is not None or self._keys:
                self._expiries = None
            self._stamp, self._keys = None, ()
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        try:
            document = json.loads(self._path.read_text("utf-8"))
            keys = tuple(
                ApiKey(**{**k, "cameras": tuple(k["cameras"]) if k.get("cameras") is not None else None})
                for k in document["keys"]
            )
            for k in keys:
                Role.parse(k.role)
                bytes.fromhex(k.salt)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{self._path}: unreadable API keys file: {e}")
        self._stamp, self._keys, self._expiries = stamp, keys, None

    def _save(self, keys: tuple[ApiKey, ...]) -> None:
        ensure_dir(self._path.parent)
        document = {"version": _FORMAT_VERSION, "keys": [asdict(k) for k in keys]}
        atomic_write(self._path, json.dumps(document, indent=2).encode("utf-8") + b"\n")
        self._stamp = None
        self._refresh()
