"""The credential an HTTP request carries in its headers: one reading, and
one check of it, for every endpoint that takes one (``/metrics``,
``/files``, still images)."""
from __future__ import annotations

from typing import Optional

from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import AuthenticationError
from camservice.auth.principal import Principal
from camservice.auth.roles import Role

__all__ = ["HeaderRefusal", "header_credential", "header_principal"]


class HeaderRefusal(Exception):
    """The request's header credential does not admit it: the HTTP status
    to answer (401 not valid, 403 valid but too weak), the reason in
    words, and who asked when that is known (for the audit line)."""

    def __init__(self, code: int, reason: str, user_id: Optional[str] = None):
        super().__init__(code, reason, user_id)
        self.code, self.reason, self.user_id = code, reason, user_id


def header_credential(request) -> str:
    """The JWT or API key in ``X-API-Key`` or ``Authorization: Bearer``
    (``X-API-Key`` first; empty when neither)."""
    credential = (request.getHeader(b"x-api-key") or b"").decode("latin-1").strip()
    if not credential:
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        if header[:7].lower() == "bearer ":
            credential = header[7:].strip()
    return credential


def header_principal(request, authenticator: Authenticator, least: Role) -> Optional[Principal]:
    """Who the request's header credential names, when it holds at least
    the role ``least``; ``None`` when the request carries no header
    credential (the endpoint decides whether another kind will do).

    :raises HeaderRefusal: 401 for a credential that is not valid, 403 for
        a role below ``least``.
    """
    credential = header_credential(request)
    if not credential:
        return None
    try:
        principal = authenticator.authenticate(credential)
    except AuthenticationError as e:
        raise HeaderRefusal(401, e.reason) from None
    if principal.role < least:
        raise HeaderRefusal(403, f"{least.name} role required", principal.user_id)
    return principal
