"""The ``streams`` section at run time (a reload participant)."""
from __future__ import annotations

from typing import Callable

from twisted.internet import defer

from camservice.config.model import Config, MediaMTXConfig
from camservice.streamauth.secrets import load_api_password
from camservice.mediamtx.urls import StreamLocator
from camservice.streamauth.policy import StreamAccessPolicy, signed_urls_enabled
from camservice.streamauth.tokens import StreamTokens

__all__ = ["ControlApiCredentials", "StreamSettings"]


class StreamSettings:
    """Swaps the signed URLs' lifetime, the viewers' networks, whether
    reads need a signed URL (``streams.signed_urls``, resolved as at start:
    ``auto`` follows ``mediamtx.media_host``) and what the stream URLs
    handed out say (``streams.public_host``, MediaMTX's ports and
    protocols): the next URL a client asks for, and the next camera view,
    carry the change. The auth callback's port and MediaMTX's allowed
    origins are applied by the services that own them
    (:class:`~camservice.streamauth.service.StreamAuthServer`,
    :class:`~camservice.mediamtx.process.MediaMTXProcess`).

    :param config: the config in force.
    """

    reloadable_keys = ("streams.token_ttl", "streams.allowed_networks", "streams.public_host",
                       "streams.signed_urls", "streams.allowed_origins")

    def __init__(self, config: Config, tokens: StreamTokens, policy: StreamAccessPolicy,
                 locator: StreamLocator):
        self.config = config.streams
        self._mediamtx = config.mediamtx
        self._signed = signed_urls_enabled(config)
        self._tokens = tokens
        self._policy = policy
        self._locator = locator

    def checkConfig(self, new) -> None:
        """In external mode, refuse new allowed origins (they are MediaMTX's
        own settings there); the loader has checked every network."""
        if new.mediamtx.mode == "external" and new.streams.allowed_origins != self.config.allowed_origins:
            from camservice.config.errors import ConfigError, ConfigProblem

            raise ConfigError([ConfigProblem(
                "streams.allowed_origins",
                "MediaMTX runs in external mode: its hlsAllowOrigins and webrtcAllowOrigins are in its own "
                "configuration; change both, then restart camservice",
            )])

    def reconfigService(self, new):
        section = new.streams
        signed = signed_urls_enabled(new)
        if (section, new.mediamtx, signed) == (self.config, self._mediamtx, self._signed):
            return None
        if section.token_ttl != self.config.token_ttl:
            self._tokens.set_ttl(section.token_ttl)
        self._policy.set_allowed_networks(section.allowed_networks)
        self._policy.signed_urls = signed
        self._locator.tokens = self._tokens if signed else None
        self._locator.configure(new.mediamtx, section)
        self.config, self._mediamtx, self._signed = section, new.mediamtx, signed
        return None


class ControlApiCredentials:
    """The credentials camservice reaches MediaMTX's Control API with
    (``mediamtx.api_user``, the first line of ``mediamtx.api_password_file``).

    MediaMTX asks camservice's auth callback about every API call, so the
    credentials the callback grants and those the client presents are
    swapped together, in one reactor turn. The file is read again on every
    reload (in a thread), so a password rotated in the same file is taken
    too.

    :param password: the password in force.
    :param client: the Control API client (``set_credentials``).
    :param run_blocking: ``(f, *args) -> Deferred`` for reading the file.
    """

    reloadable_keys = ("mediamtx.api_user", "mediamtx.api_password_file")

    def __init__(self, config: MediaMTXConfig, password: str, policy: StreamAccessPolicy, client,
                 run_blocking: Callable):
        self._in_force = (config.api_user, password)
        self._policy = policy
        self._client = client
        self._run_blocking = run_blocking

    def checkConfig(self, new) -> None:
        """Nothing to refuse: a file that cannot be read fails the apply."""

    def reconfigService(self, new) -> defer.Deferred:
        """:raises ConfigError: the password file cannot be read or is too
        short (nothing changed)."""
        d = self._run_blocking(load_api_password, new.mediamtx.api_password_file)

        def swap(password: str) -> None:
            credentials = (new.mediamtx.api_user, password)
            if credentials == self._in_force:
                return
            self._policy.set_api_credentials(*credentials)
            if hasattr(self._client, "set_credentials"):
                self._client.set_credentials(*credentials)
            self._in_force = credentials

        return d.addCallback(swap)
