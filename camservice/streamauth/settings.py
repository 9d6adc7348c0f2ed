"""The ``streams`` section at run time (a reload participant)."""
from __future__ import annotations

from camservice.config.model import Config, StreamsConfig
from camservice.mediamtx.urls import StreamLocator
from camservice.streamauth.policy import StreamAccessPolicy, signed_urls_enabled
from camservice.streamauth.tokens import StreamTokens

__all__ = ["StreamSettings"]


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
                       "streams.signed_urls")

    def __init__(self, config: Config, tokens: StreamTokens, policy: StreamAccessPolicy,
                 locator: StreamLocator):
        self.config = config.streams
        self._mediamtx = config.mediamtx
        self._signed = signed_urls_enabled(config)
        self._tokens = tokens
        self._policy = policy
        self._locator = locator

    def checkConfig(self, new) -> None:
        """Nothing to refuse: the loader has checked every network."""

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
