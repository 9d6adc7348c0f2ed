"""The decision table for MediaMTX's auth callback (``authMethod: http``).

MediaMTX v1.20.1 POSTs one JSON object per request to authorize::

    {"ip": "127.0.0.1", "user": "", "password": "", "token": "",
     "action": "read", "path": "camera1000", "protocol": "rtsp",
     "id": "...", "query": "token=s1-...", "userAgent": "..."}

(``action`` is ``read``, ``publish``, ``playback``, ``api``, ``metrics`` or
``pprof``; ``user``/``password`` come from URL or Basic credentials,
``token`` from a Bearer header or, for RTSP, a ``token`` query parameter;
``query`` is the URL's query string). Any 2xx answer allows, anything else
refuses. What camservice answers:

===========================  =================================================
action                       allowed when
===========================  =================================================
api, metrics, pprof,         user and password are camservice's Control API
playback                     credentials (compared in constant time)
publish                      the path is a camera path (``cameraN``) and the
                             credential is that camera's publish secret
read (internal)              the credential is the internal readers' one
read (viewer)                the client address is in ``allowed_networks``
                             (when set), the path is a camera path, and:
                             signed URLs are off, or the credential is a
                             valid stream token for that camera, or a JWT/API
                             key of a caller allowed that camera
anything else                never
===========================  =================================================
"""
from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence
from urllib.parse import parse_qs

from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import AuthenticationError
from camservice.cameras.model import CAMERA_ID
from camservice.config.model import Config
from camservice.streamauth.secrets import StreamSecrets
from camservice.streamauth.tokens import READ_TOKEN_PREFIX, StreamTokens, TokenRefused

__all__ = ["API_ACTIONS", "AccessRequest", "Decision", "StreamAccessPolicy", "is_loopback", "signed_urls_enabled"]

#: actions only camservice's Control API credentials are granted
API_ACTIONS = frozenset({"api", "metrics", "pprof", "playback"})
_MAX_FIELD = 8192


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps a port on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def signed_urls_enabled(config: Config) -> bool:
    """``streams.signed_urls`` resolved: ``auto`` is on whenever the API
    (``server.host``) or the media ports (``mediamtx.media_host``) are bound
    beyond loopback, and always in external mode (where MediaMTX binds as
    its own config says: the example config listens on every interface)."""
    setting = config.streams.signed_urls
    if setting == "auto":
        if config.mediamtx.mode == "external":
            return True
        return not (is_loopback(config.server.host) and is_loopback(config.mediamtx.media_host))
    return bool(setting)


@dataclass(frozen=True)
class AccessRequest:
    """One question from MediaMTX (see the module docstring)."""

    action: str
    path: str = ""
    ip: str = ""
    protocol: str = ""
    user: str = ""
    password: str = ""
    token: str = ""
    query: str = ""
    id: Optional[str] = None

    @classmethod
    def from_json(cls, body: object) -> "AccessRequest":
        """Read MediaMTX's JSON body.

        :raises ValueError: not an object, no ``action``, or a field that
            is not a string or too long.
        """
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            raise ValueError("the request must be an object with an action")
        values = {}
        for name in ("action", "path", "ip", "protocol", "user", "password", "token", "query", "id"):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > _MAX_FIELD:
                raise ValueError(f"{name} must be a string of at most {_MAX_FIELD} characters")
            values[name] = value
        return cls(**values)

    def credentials(self) -> list[str]:
        """Every credential presented, in order: the ``token`` field, the
        ``token`` and ``jwt`` query parameters, the password."""
        found = [self.token]
        query = parse_qs(self.query, keep_blank_values=False)
        for name in ("token", "jwt"):
            found += query.get(name, [])
        found.append(self.password)
        unique: list[str] = []
        for credential in found:
            if credential and credential not in unique:
                unique.append(credential)
        return unique


@dataclass(frozen=True)
class Decision:
    """The answer: allowed or not, as whom, and why not.

    :ivar who: ``camservice`` (Control API), ``source:<camera>``,
        ``internal``, ``signed-url``, ``anonymous`` or the caller's user id.
    """

    allowed: bool
    who: str = ""
    reason: str = ""


def _allow(who: str) -> Decision:
    return Decision(True, who)


def _deny(reason: str, who: str = "") -> Decision:
    return Decision(False, who, reason)


class StreamAccessPolicy:
    """Decides each :class:`AccessRequest`.

    :param secrets: publish and internal credentials.
    :param tokens: checks signed read tokens.
    :param authenticator: checks JWTs and API keys.
    :param api_user: the Control API user.
    :param api_password: the Control API password.
    :param signed_urls: whether reads need a credential.
    :param allowed_networks: CIDR blocks viewers may read from; empty: any.
    """

    def __init__(
        self,
        secrets: StreamSecrets,
        tokens: StreamTokens,
        authenticator: Authenticator,
        api_user: str,
        api_password: str,
        signed_urls: bool,
        allowed_networks: Sequence[str] = (),
    ):
        self._secrets = secrets
        self._tokens = tokens
        self._authenticator = authenticator
        self._api_user = api_user
        self._api_password = api_password
        self.signed_urls = signed_urls
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)

    def set_api_credentials(self, api_user: str, api_password: str) -> None:
        """Grant the Control API to these credentials from now on (a reload)."""
        self._api_user, self._api_password = api_user, api_password

    def set_allowed_networks(self, allowed_networks: Sequence[str]) -> None:
        """Admit viewers from ``allowed_networks`` from now on (a reload)."""
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)

    def decide(self, request: AccessRequest) -> Decision:
        """Allow or refuse ``request`` (never raises for bad credentials)."""
        if request.action in API_ACTIONS:
            return self._api(request)
        if request.action == "publish":
            return self._publish(request)
        if request.action == "read":
            return self._read(request)
        return _deny(f"unknown action {request.action[:32]!r}")

    def _api(self, request: AccessRequest) -> Decision:
        user_ok = hmac.compare_digest(request.user.encode(), self._api_user.encode())
        password_ok = hmac.compare_digest(request.password.encode(), self._api_password.encode())
        if user_ok and password_ok:
            return _allow("camservice")
        return _deny("Control API credentials missing or wrong")

    def _publish(self, request: AccessRequest) -> Decision:
        if not CAMERA_ID.fullmatch(request.path):
            return _deny("only camservice's camera paths take a publisher")
        expected = self._secrets.publish_secret(request.path)
        if _any_equal(request.credentials(), expected):
            return _allow("source:" + request.path)
        return _deny("only camservice's own source may publish to a camera path")

    def _read(self, request: AccessRequest) -> Decision:
        credentials = request.credentials()
        if _any_equal(credentials, self._secrets.internal_credential):
            return _allow("internal")
        if self._networks and not self._address_allowed(request.ip):
            return _deny("address not in streams.allowed_networks")
        if not CAMERA_ID.fullmatch(request.path):
            return _deny("not a camera path")
        if not self.signed_urls:
            return _allow("anonymous")
        if not credentials:
            return _deny("no credential")
        reason = "unrecognised credential"
        for credential in credentials:
            if credential.startswith(READ_TOKEN_PREFIX):
                try:
                    self._tokens.check(credential, request.path)
                except TokenRefused as e:
                    reason = str(e)
                    continue
                return _allow("signed-url")
            if len(credential) >= 32:
                try:
                    principal = self._authenticator.authenticate(credential)
                except AuthenticationError as e:
                    reason = e.reason
                    continue
                if principal.may_use_camera(request.path):
                    return _allow(principal.user_id)
                return _deny("caller may not use this camera", principal.user_id)
        return _deny(reason)

    def _address_allowed(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks if network.version == address.version)


def _any_equal(candidates: Iterable[str], expected: str) -> bool:
    wanted = expected.encode()
    return any(hmac.compare_digest(c.encode(), wanted) for c in candidates)
