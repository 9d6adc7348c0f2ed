"""Which server camctl talks to and with which credential: flags first,
then the ``CAMCTL_*`` environment, then the defaults."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from camservice.cli.exits import USAGE, CliError

__all__ = ["DEFAULT_URL", "ENV_API_KEY", "ENV_CA_FILE", "ENV_CERT", "ENV_KEY", "ENV_TOKEN", "ENV_URL", "Target", "resolve"]

DEFAULT_URL = "ws://127.0.0.1:8002/ws"
ENV_URL = "CAMCTL_URL"
ENV_TOKEN = "CAMCTL_TOKEN"
ENV_API_KEY = "CAMCTL_API_KEY"
ENV_CA_FILE = "CAMCTL_CA_FILE"
ENV_CERT = "CAMCTL_CERT"
ENV_KEY = "CAMCTL_KEY"


@dataclass(frozen=True)
class Target:
    """A WebSocket URL, a credential and the TLS trust to reach it with.

    :ivar credential: the JWT or API key, or ``None`` (a client certificate
        alone, or calls that need none).
    :ivar credential_kind: ``"token"`` or ``"api_key"``: how downloads send
        it (``Authorization: Bearer`` or ``X-API-Key``).
    :ivar ca_file: PEM of the CA(s) to trust for ``wss://``/``https://``;
        ``None``: the system's trust store.
    :ivar client_cert: PEM of a client certificate to present (mTLS), with
        its key unless ``client_key`` names another file.
    """

    url: str
    host: str
    port: int
    secure: bool
    credential: Optional[str] = None
    credential_kind: Optional[str] = None
    ca_file: Optional[Path] = None
    timeout: float = 10.0
    client_cert: Optional[Path] = None
    client_key: Optional[Path] = None

    @property
    def http_base(self) -> str:
        """``http(s)://host:port`` of the WebSocket URL: where ``download_url`` paths resolve."""
        parts = urlsplit(self.url)
        return urlunsplit(("https" if self.secure else "http", parts.netloc, "", "", ""))

    def http_headers(self) -> dict[bytes, list[bytes]]:
        """The credential as ``/files/...`` takes it (never in the URL)."""
        if self.credential is None:
            return {}
        if self.credential_kind == "api_key":
            return {b"X-API-Key": [self.credential.encode("utf-8")]}
        return {b"Authorization": [b"Bearer " + self.credential.encode("utf-8")]}


def parse_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, secure)`` of a ``ws://`` or ``wss://`` URL.

    :raises CliError: (USAGE) another scheme, or no host.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise CliError(f"invalid URL {url!r}: {e}", USAGE) from None
    if parts.scheme not in ("ws", "wss"):
        raise CliError(f"invalid URL {url!r}: the scheme must be ws:// or wss://", USAGE)
    if not parts.hostname:
        raise CliError(f"invalid URL {url!r}: no host", USAGE)
    secure = parts.scheme == "wss"
    return parts.hostname, port or (443 if secure else 80), secure


def resolve(url: Optional[str], token: Optional[str], api_key: Optional[str], ca_file: Optional[str],
            timeout: float, environ: Mapping[str, str], cert: Optional[str] = None,
            key: Optional[str] = None) -> Target:
    """The :class:`Target` of the flags (``None`` when not given) and ``environ``.

    A flag wins over the environment; ``--token`` and ``--api-key`` (or
    their variables) name one credential, so giving both is a usage error.
    """
    url = url or environ.get(ENV_URL) or DEFAULT_URL
    host, port, secure = parse_url(url)
    if token is None and api_key is None:
        token = environ.get(ENV_TOKEN) or None
        api_key = environ.get(ENV_API_KEY) or None
    if token is not None and api_key is not None:
        raise CliError(f"give a token or an API key, not both (--token/{ENV_TOKEN}, --api-key/{ENV_API_KEY})", USAGE)
    credential, kind = (token, "token") if token is not None else (api_key, "api_key" if api_key is not None else None)
    if credential is not None:
        credential = credential.strip()
        if not credential:
            raise CliError("the credential is empty", USAGE)
    ca = ca_file or environ.get(ENV_CA_FILE) or None
    ca_path = Path(ca) if ca else None
    if ca_path is not None and not secure:
        raise CliError(f"--ca-file is for wss:// URLs; {url} is not one", USAGE)
    cert = cert or environ.get(ENV_CERT) or None
    key = key or environ.get(ENV_KEY) or None
    if key and not cert:
        raise CliError(f"--key goes with --cert ({ENV_KEY} with {ENV_CERT})", USAGE)
    if cert and not secure:
        raise CliError(f"--cert is for wss:// URLs; {url} is not one", USAGE)
    if timeout <= 0:
        raise CliError("--timeout must be more than 0 seconds", USAGE)
    return Target(url, host, port, secure, credential, kind, ca_path, timeout,
                  Path(cert) if cert else None, Path(key) if key else None)
