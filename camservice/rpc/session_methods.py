"""``ping`` and ``authenticate``."""
from __future__ import annotations

from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import AuthenticationError
from camservice.auth.roles import permissions_for
from camservice.rpc.audit import Audit
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.timeutil import iso_timestamp

__all__ = ["SessionMethods"]

class SessionMethods:
    """Liveness and login."""

    def __init__(self, authenticator: Authenticator, audit: Audit):
        self._authenticator = authenticator
        self._audit = audit

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("ping", self.ping, None, summary="Liveness check; needs no authentication."),
            MethodSpec(
                "authenticate",
                self.authenticate,
                None,
                object_schema({"auth_token": {"type": "string", "minLength": 1, "maxLength": 8192}}, ["auth_token"]),
                summary="Authenticate the connection with a JWT or an API key.",
                example={"auth_token": "<jwt or api key>"},
            ),
        ]

    def ping(self, call: Call, params: dict) -> str:
        return "pong"

    def authenticate(self, call: Call, params: dict) -> dict:
        session = call.session
        try:
            principal = self._authenticator.authenticate(params["auth_token"])
        except AuthenticationError as e:
            self._audit.failure(session, call.request_id, call.method, e.reason)
            raise
        session.log_in(principal)
        self._audit.success(session, call.request_id, principal)
        return {
            "authenticated": True,
            "role": principal.role.name,
            "permissions": permissions_for(principal.role),
            "expires_at": iso_timestamp(principal.expires_at) if principal.expires_at is not None else None,
            "session_id": session.session_id,
        }
