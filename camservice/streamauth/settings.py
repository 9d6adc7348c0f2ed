"""The ``streams`` section at run time (a reload participant)."""
from __future__ import annotations

from camservice.config.model import StreamsConfig
from camservice.mediamtx.urls import StreamLocator
from camservice.streamauth.policy import StreamAccessPolicy
from camservice.streamauth.tokens import StreamTokens

__all__ = ["StreamSettings"]


class StreamSettings:
    """Swaps the signed URLs' lifetime, the viewers' networks and the host
    stream URLs name. Turning signed URLs on or off, the auth callback's
    port and MediaMTX's allowed origins shape MediaMTX's own config file:
    they need a restart.

    :param config: the ``streams`` section in force.
    """

    reloadable_keys = ("streams.token_ttl", "streams.allowed_networks", "streams.public_host")

    def __init__(self, config: StreamsConfig, tokens: StreamTokens, policy: StreamAccessPolicy,
                 locator: StreamLocator):
        self.config = config
        self._tokens = tokens
        self._policy = policy
        self._locator = locator

    def checkConfig(self, new) -> None:
        """Nothing to refuse: the loader has checked every network."""

    def reconfigService(self, new):
        section = new.streams
        if section == self.config:
            return None
        if section.token_ttl != self.config.token_ttl:
            self._tokens.set_ttl(section.token_ttl)
        self._policy.set_allowed_networks(section.allowed_networks)
        self._locator.configure(new.mediamtx, section)
        self.config = section
        return None
