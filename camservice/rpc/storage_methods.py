"""``get_storage_info``, ``set_retention_policy``, ``cleanup_old_files``:
thin calls into the storage monitor and the retention service."""
from __future__ import annotations

from camservice.auth.roles import Role
from camservice.media.retention import MANUAL, POLICY_TYPES, Retention
from camservice.media.storage import StorageMonitor
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema

__all__ = ["StorageMethods"]

_POLICY = object_schema(
    {
        "policy_type": {"type": "string", "enum": list(POLICY_TYPES)},
        "enabled": {"type": "boolean"},
        "max_age_days": {"type": "number", "exclusiveMinimum": 0, "maximum": 36500},
        "max_size_gb": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000},
    },
    ["policy_type", "enabled"],
)


class StorageMethods:
    """Disk figures and retention."""

    def __init__(self, storage: StorageMonitor, retention: Retention):
        self._storage = storage
        self._retention = retention

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("get_storage_info", self.get_storage_info, Role.admin,
                       summary="Space on the media filesystem and in recordings and snapshots."),
            MethodSpec("set_retention_policy", self.set_retention_policy, Role.admin, _POLICY,
                       audit=("policy_type", "enabled", "max_age_days", "max_size_gb"),
                       summary="Store the retention policy (kept across restarts).",
                       example={"policy_type": "age", "enabled": True, "max_age_days": 30}),
            MethodSpec("cleanup_old_files", self.cleanup_old_files, Role.admin, audit=(),
                       summary="Delete the oldest files the retention policy says must go, now."),
        ]

    def get_storage_info(self, call: Call, params: dict):
        return self._storage.info()

    async def set_retention_policy(self, call: Call, params: dict) -> dict:
        policy = await self._retention.set_policy(
            params["policy_type"], params["enabled"], params.get("max_age_days"), params.get("max_size_gb")
        )
        result = policy.to_json()
        if policy.policy_type == MANUAL:
            message = "retention policy stored: files are deleted only by cleanup_old_files"
        elif policy.enabled:
            message = f"retention policy stored: {policy.policy_type} limit applied every " \
                      f"{self._retention.config.interval:g} s"
        else:
            message = f"retention policy stored: {policy.policy_type} limit applied by cleanup_old_files"
        result["message"] = message
        return result

    async def cleanup_old_files(self, call: Call, params: dict) -> dict:
        principal = call.principal
        done = await self._retention.cleanup(
            who=principal.user_id if principal is not None else None,
            peer=call.session.peer,
            request_id=call.request_id,
        )
        message = f"{done.files_deleted} files deleted, {done.space_freed} bytes freed"
        if done.skipped_held:
            message += f"; {done.skipped_held} in use kept"
        if done.failed:
            message += f"; {done.failed} could not be deleted"
        return {
            "cleanup_executed": True,
            "files_deleted": done.files_deleted,
            "space_freed": done.space_freed,
            "message": message,
        }
