"""Desired paths (from the camera table) against actual paths (from
MediaMTX): the changes that make them agree."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from camservice.mediamtx.sources import OWNED_PATH

__all__ = ["PathChange", "plan_changes", "same_conf"]


@dataclass(frozen=True)
class PathChange:
    """One change: ``add``, ``replace`` or ``delete`` path ``name``."""

    action: str
    name: str
    conf: Optional[dict] = None


def _norm(value):
    # MediaMTX reports durations as Go strings ("10s"); ours are too, but
    # an empty command may come back as "" or be missing.
    return "" if value is None else value


def same_conf(desired: Mapping, actual: Mapping) -> bool:
    """Whether ``actual`` (MediaMTX's full PathConf) has every value
    ``desired`` sets."""
    return all(_norm(actual.get(k)) == _norm(v) for k, v in desired.items())


def plan_changes(desired: Mapping[str, dict], actual: Mapping[str, Mapping]) -> list[PathChange]:
    """The changes that turn ``actual`` into ``desired``.

    Only paths camservice owns (``cameraN``) are deleted or replaced; other
    paths are left alone even if they are not desired.
    """
    changes = []
    for name in sorted(desired):
        if name not in actual:
            changes.append(PathChange("add", name, desired[name]))
        elif not same_conf(desired[name], actual[name]):
            changes.append(PathChange("replace", name, desired[name]))
    for name in sorted(actual):
        if name not in desired and OWNED_PATH.match(name):
            changes.append(PathChange("delete", name))
    return changes
