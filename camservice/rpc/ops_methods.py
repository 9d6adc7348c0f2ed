"""Operations (API extension 1.2): ``get_recent_errors``."""
from __future__ import annotations

from camservice.auth.roles import Role
from camservice.ops.recent import RecentErrors
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import LIMIT

__all__ = ["OpsMethods"]

EXTENSION_VERSION = "1.2"


class OpsMethods:
    """What a maintainer asks for when something looks wrong."""

    def __init__(self, recent_errors: RecentErrors):
        self._recent = recent_errors

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("get_recent_errors", self.get_recent_errors, Role.admin,
                       object_schema({"limit": LIMIT}), version=EXTENSION_VERSION, example={"limit": 20},
                       summary="Extension: the last error and critical log events, oldest first."),
        ]

    def get_recent_errors(self, call: Call, params: dict) -> dict:
        events = self._recent.events(params.get("limit", 50))
        return {"events": events, "kept": self._recent.size, "total": self._recent.total}
