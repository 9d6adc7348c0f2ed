"""Roles and what each may do: viewer < operator < admin (API.md)."""
from __future__ import annotations

import enum

__all__ = ["Role", "permissions_for"]


class Role(enum.IntEnum):
    """A caller's role; a higher role may call every method of the lower ones."""

    viewer = 1
    operator = 2
    admin = 3

    @classmethod
    def parse(cls, name: object) -> "Role":
        """The role called ``name``.

        :raises ValueError: for anything that is not a role name.
        """
        if isinstance(name, str) and name in cls.__members__:
            return cls[name]
        raise ValueError(f"unknown role {name!r}")


_PERMISSIONS = {
    Role.viewer: ("view",),
    Role.operator: ("view", "control"),
    Role.admin: ("view", "control", "admin"),
}


def permissions_for(role: Role) -> list[str]:
    """The permission names reported by ``authenticate`` for ``role``."""
    return list(_PERMISSIONS[role])
