"""``ping`` and ``authenticate``; and the session extension (1.2):
``list_sessions`` and ``terminate_session`` for admins."""
from __future__ import annotations

from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import AuthenticationError
from camservice.auth.roles import Role, permissions_for
from camservice.rpc.audit import Audit
from camservice.rpc.dispatcher import Call
from camservice.rpc.errors import NotFound
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.sessions import SessionTable
from camservice.timeutil import iso_timestamp

__all__ = ["EXTENSION_VERSION", "SessionMethods"]

#: the API version of ``list_sessions`` and ``terminate_session``
EXTENSION_VERSION = "1.2"


class SessionMethods:
    """Liveness, login, and the table of open sessions."""

    def __init__(self, authenticator: Authenticator, audit: Audit, sessions: SessionTable):
        self._authenticator = authenticator
        self._audit = audit
        self._sessions = sessions

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
            MethodSpec(
                "list_sessions",
                self.list_sessions,
                Role.admin,
                version=EXTENSION_VERSION,
                summary="Extension: every open connection with its caller, address, times and credential.",
            ),
            MethodSpec(
                "terminate_session",
                self.terminate_session,
                Role.admin,
                object_schema(
                    {"session_id": {"type": "string", "minLength": 1, "maxLength": 64}}, ["session_id"]
                ),
                version=EXTENSION_VERSION,
                summary="Extension: end an open session; its client gets session_ended and close code 4004.",
                example={"session_id": "00000000-0000-0000-0000-000000000000"},
            ),
        ]

    def list_sessions(self, call: Call, params: dict) -> dict:
        rows = [self._sessions.describe(s) for s in self._sessions.sessions()]
        for row in rows:
            row["current"] = row["session_id"] == call.session.session_id
        return {"sessions": rows, "total": len(rows)}

    def terminate_session(self, call: Call, params: dict) -> dict:
        session_id = params["session_id"]
        own = session_id == call.session.session_id
        if not self._sessions.terminate(session_id, call.principal, later=own):
            raise NotFound(resource="session", id=session_id, reason="no such session")
        return {"session_id": session_id, "terminated": True}

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
