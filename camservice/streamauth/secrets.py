"""The secrets behind stream access, kept in the data folder.

- The *stream key* (``<data_dir>/stream-key``): 256 random bits from which
  every stream credential is derived (signed read tokens, one publish
  secret per camera source, the internal readers' credential). Derived, so
  they are the same after a restart and MediaMTX's path configurations stay
  equal to what camservice wants (no needless path replacements).
- The Control API password (``mediamtx.api_password_file``).

Both are created once, atomically (the complete file is linked into place,
mode 0600, folder 0700), and only read afterwards; concurrent creators (the
service and ``camservice-admin``) end up with the same content.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from camservice.config.errors import ConfigError, ConfigProblem
from camservice.fileutil import create_exclusive, ensure_dir

__all__ = ["MIN_PASSWORD_LENGTH", "StreamSecrets", "load_api_password", "load_stream_key"]

MIN_PASSWORD_LENGTH = 16
_KEY_BYTES = 32


def _read_or_create(path: Path, make: bytes, key: str) -> str:
    try:
        if not path.exists():
            ensure_dir(path.parent)
            create_exclusive(path, make)
        lines = path.read_text("utf-8").splitlines()
    except OSError as e:
        raise ConfigError([ConfigProblem(key, f"cannot read or create it: {e.strerror}", str(path))])
    return lines[0].strip() if lines else ""


def load_stream_key(data_dir: Path) -> bytes:
    """The stream key from ``<data_dir>/stream-key`` (created if missing).

    :raises ConfigError: the file cannot be read or created, or is damaged.
    """
    path = Path(data_dir) / "stream-key"
    text = _read_or_create(path, secrets.token_hex(_KEY_BYTES).encode("ascii") + b"\n", "data_dir")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < _KEY_BYTES:
        raise ConfigError([ConfigProblem("data_dir", f"{path} must hold {_KEY_BYTES} bytes in hex", str(path))])
    return key


def load_api_password(path: Path) -> str:
    """The Control API password: the first line of ``path`` (created with a
    random one if missing).

    :raises ConfigError: unreadable, or shorter than 16 characters.
    """
    password = _read_or_create(Path(path), secrets.token_urlsafe(32).encode("ascii") + b"\n",
                               "mediamtx.api_password_file")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError([ConfigProblem(
            "mediamtx.api_password_file",
            f"the password in it must be at least {MIN_PASSWORD_LENGTH} characters long", str(path),
        )])
    return password


@dataclass(frozen=True)
class StreamSecrets:
    """Credentials derived from the stream key.

    Each is an HMAC-SHA256 of a purpose string, so knowing one (say a
    camera's publish secret) tells nothing about another.
    """

    key: bytes

    def derive(self, *parts: str) -> str:
        """128 bits of ``HMAC(key, parts joined by NUL)`` in hex."""
        message = "\0".join(parts).encode("utf-8")
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    def publish_secret(self, camera_id: str) -> str:
        """What camera ``camera_id``'s source presents to publish."""
        return "p1-" + self.derive("publish", camera_id)

    @property
    def internal_credential(self) -> str:
        """What camservice's own readers (keep-alive readers and any other
        internal reader) present."""
        return "i1-" + self.derive("internal-read")
