"""Operations (API extension 1.2): ``get_recent_errors``, ``reload_config``."""
from __future__ import annotations

from typing import Optional

from camservice.auth.roles import Role
from camservice.ops.reload import ReloadCoordinator, refusal
from camservice.ops.recent import RecentErrors
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import LIMIT

__all__ = ["OpsMethods"]

EXTENSION_VERSION = "1.2"


class OpsMethods:
    """What a maintainer asks for when something looks wrong."""

    def __init__(self, recent_errors: RecentErrors, reloader: Optional[ReloadCoordinator] = None):
        self._recent = recent_errors
        self._reloader = reloader

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("get_recent_errors", self.get_recent_errors, Role.admin,
                       object_schema({"limit": LIMIT}), version=EXTENSION_VERSION, example={"limit": 20},
                       summary="Extension: the last error and critical log events, oldest first."),
            MethodSpec("reload_config", self.reload_config, Role.admin, object_schema({}),
                       version=EXTENSION_VERSION, audit=(),
                       summary="Extension: reload the configuration file and environment, all or nothing."),
        ]

    def get_recent_errors(self, call: Call, params: dict) -> dict:
        events = self._recent.events(params.get("limit", 50))
        return {"events": events, "kept": self._recent.size, "total": self._recent.total}

    async def reload_config(self, call: Call, params: dict) -> dict:
        """Reload now (or right after the reload running now).

        :raises ReloadRefused: the new config was refused or rolled back;
            the running one stays.
        """
        if self._reloader is None:
            raise RuntimeError("no reload coordinator")
        result = await self._reloader.reload(call.principal.user_id)
        if result.status in ("refused", "rolled_back"):
            raise refusal(result)
        return result.as_dict()
