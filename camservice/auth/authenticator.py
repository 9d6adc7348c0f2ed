"""One entry point for credentials: a JWT or an API key."""
from __future__ import annotations

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.errors import AuthenticationError
from camservice.auth.principal import Principal
from camservice.auth.tokens import TokenAuthority, looks_like_jwt

__all__ = ["Authenticator"]


class Authenticator:
    """Turns a presented credential into a :class:`Principal`.

    :param tokens: verifies JWTs.
    :param keys: verifies API keys.
    """

    def __init__(self, tokens: TokenAuthority, keys: ApiKeyStore):
        self.tokens = tokens
        self.keys = keys

    def authenticate(self, credential: object) -> Principal:
        """Check ``credential`` (a JWT or an API key).

        :raises AuthenticationError: missing, malformed, invalid or expired.
        """
        if not isinstance(credential, str) or not credential:
            raise AuthenticationError("missing token")
        if len(credential) > 8192:
            raise AuthenticationError("token too long")
        if looks_like_jwt(credential):
            return self.tokens.verify(credential)
        return self.keys.verify(credential)
