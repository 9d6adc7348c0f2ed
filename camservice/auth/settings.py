"""The ``auth`` section at run time (a reload participant)."""
from __future__ import annotations

from typing import Callable

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.secret import load_or_create_secret
from camservice.auth.tokens import TokenAuthority
from camservice.config.model import AuthConfig

__all__ = ["AuthSettings"]


class AuthSettings:
    """Swaps the JWT secret, the leeway, the API keys file and the session
    check interval; ``token_ttl`` is read by ``camservice-admin`` only.

    A new secret makes tokens signed with the old one fail from the next
    request on; sessions already authenticated keep their principal until
    it expires (the session checks end revoked API keys).

    :param config: the ``auth`` section in force.
    :param secret: the secret in force (kept to roll back).
    :param load_secret: ``(AuthConfig) -> str`` (reads or creates the file).
    """

    reloadable_keys = ("auth",)

    def __init__(self, config: AuthConfig, secret: str, authority: TokenAuthority, keys: ApiKeyStore, sessions,
                 load_secret: Callable[[AuthConfig], str] = load_or_create_secret):
        self.config = config
        self._secrets = {self._secret_source(config): secret}
        self._authority = authority
        self._keys = keys
        self._sessions = sessions
        self._load_secret = load_secret

    @staticmethod
    def _secret_source(config: AuthConfig) -> tuple:
        return (config.jwt_secret, config.jwt_secret_file)

    def checkConfig(self, new) -> None:
        """Nothing to refuse: the schema bounds every value, and a secret
        file that cannot be read fails the apply (rolled back)."""

    def reconfigService(self, new):
        section = new.auth
        if section == self.config:
            return None
        source = self._secret_source(section)
        secret = self._secrets.get(source)
        if secret is None:
            secret = self._load_secret(section)  # raises ConfigError: rolled back
            self._secrets = {self._secret_source(self.config): self._secrets[self._secret_source(self.config)],
                             source: secret}
        self._authority.reconfigure(secret, section.leeway)
        self._keys.set_path(section.api_keys_file)
        self._sessions.set_interval(section.session_check_interval)
        self.config = section
        return None
