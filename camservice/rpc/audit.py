"""Audit events: authentication successes and failures, and denials.

They go to their own logger namespace, ``camservice.audit``, with
``audit=True``, so they can be shipped apart from the rest of the log.
Tokens and keys are never logged.
"""
from __future__ import annotations

from typing import Optional

from twisted.logger import Logger

from camservice.auth.principal import Principal
from camservice.metrics import Metrics
from camservice.rpc.session import Session

__all__ = ["Audit"]


class Audit:
    """Writes audit events and counts failures in the metrics."""

    def __init__(self, metrics: Metrics):
        self._metrics = metrics
        # An instance attribute: a class-level Logger would take the class's
        # own name as its namespace.
        self.log = Logger(namespace="camservice.audit")

    def success(self, session: Session, request_id: str, principal: Principal) -> None:
        self.log.info(
            "authenticated {user_id} as {role} by {auth_method}",
            audit=True,
            outcome="success",
            user_id=principal.user_id,
            role=principal.role.name,
            auth_method=principal.method,
            peer=session.peer,
            conn_id=session.conn_id,
            request_id=request_id,
        )

    def failure(self, session: Session, request_id: str, method: str, reason: str) -> None:
        self._metrics.auth_failures.labels("authentication").inc()
        self.log.warn(
            "authentication failed for {method}: {reason}",
            audit=True,
            outcome="failure",
            method=method,
            reason=reason,
            peer=session.peer,
            conn_id=session.conn_id,
            request_id=request_id,
        )

    def denied(
        self,
        session: Session,
        request_id: str,
        method: str,
        principal: Principal,
        required_role: Optional[str],
        camera: Optional[str] = None,
    ) -> None:
        self._metrics.auth_failures.labels("denied").inc()
        self.log.warn(
            "denied {method} to {user_id} (role {have_role}, needs {required_role}, camera {camera})",
            audit=True,
            outcome="denied",
            method=method,
            user_id=principal.user_id,
            have_role=principal.role.name,
            required_role=required_role,
            camera=camera,
            peer=session.peer,
            conn_id=session.conn_id,
            request_id=request_id,
        )
