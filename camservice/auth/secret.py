"""The JWT signing secret: from the config, or generated once into a file."""
from __future__ import annotations

import secrets

from camservice.config.errors import ConfigError, ConfigProblem
from camservice.config.model import AuthConfig
from camservice.fileutil import create_exclusive, ensure_dir

__all__ = ["MIN_SECRET_LENGTH", "load_or_create_secret"]

MIN_SECRET_LENGTH = 32


def load_or_create_secret(auth: AuthConfig) -> str:
    """The HS256 secret the service and ``camservice-admin`` share.

    An inline ``auth.jwt_secret`` wins. Otherwise ``auth.jwt_secret_file``
    is read, and created (mode 0600, folder 0700) with a random secret when
    it does not exist yet; concurrent creators end up with the same secret.

    :raises ConfigError: the file cannot be read or created, or is too short.
    """
    if auth.jwt_secret:
        return auth.jwt_secret
    path = auth.jwt_secret_file
    try:
        if not path.exists():
            ensure_dir(path.parent)
            create_exclusive(path, secrets.token_urlsafe(48).encode("ascii") + b"\n")
        secret = path.read_text("utf-8").strip()
    except OSError as e:
        raise ConfigError(
            [ConfigProblem("auth.jwt_secret_file", f"cannot read or create it: {e.strerror}", str(path))]
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            [
                ConfigProblem(
                    "auth.jwt_secret_file",
                    f"the secret in it must be at least {MIN_SECRET_LENGTH} characters long",
                    str(path),
                )
            ]
        )
    return secret
