"""Authentication (JWTs, API keys) and roles."""
from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import AuthenticationError, PermissionDenied
from camservice.auth.principal import Principal
from camservice.auth.roles import Role, permissions_for
from camservice.auth.secret import load_or_create_secret
from camservice.auth.tokens import TokenAuthority

__all__ = [
    "ApiKeyStore",
    "AuthenticationError",
    "Authenticator",
    "PermissionDenied",
    "Principal",
    "Role",
    "TokenAuthority",
    "load_or_create_secret",
    "permissions_for",
]
