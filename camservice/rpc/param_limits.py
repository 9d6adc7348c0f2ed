"""Cheap structural limits on params, checked before the schema.

A schema validator is thorough and slow: on a 64 KB array of bad items it
would look at every item. These checks look only at sizes (``len`` is
free) and stop at the first one broken, so hostile params cost a few
microseconds whatever their size. The schema then runs on what is left
and stops at its first error.
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "MAX_NODES", "MAX_STRING", "check_structure", "top_level_limits"]

#: most values in one params object, at every level together
MAX_NODES = 1024
#: most levels of nesting inside params (``{"a": [1]}`` is 2)
MAX_DEPTH = 8
#: most items of one array or members of one object
MAX_ITEMS = 256
#: most characters of one string (keys included)
MAX_STRING = 8192


def _path(parent: tuple, key) -> tuple:
    return parent + (key,)


def check_structure(params: dict) -> Optional[tuple[tuple, str]]:
    """The first structural limit ``params`` breaks.

    :returns: ``(path, rule)``, or ``None`` when within every limit.
    """
    nodes = 0
    stack: list[tuple[Any, tuple, int]] = [(params, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return (), f"must hold at most {MAX_NODES} values in all"
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                return path, f"must be at most {MAX_STRING} characters long"
        elif isinstance(value, (dict, list)):
            if len(value) > MAX_ITEMS:
                unit = "items" if isinstance(value, list) else "members"
                return path, f"must have at most {MAX_ITEMS} {unit}"
            if depth >= MAX_DEPTH and value:
                return path, f"must not nest deeper than {MAX_DEPTH} levels"
            if isinstance(value, dict):
                for key, item in value.items():
                    if len(key) > MAX_STRING:
                        return path, f"must have member names of at most {MAX_STRING} characters"
                    stack.append((item, _path(path, key), depth + 1))
            else:
                for index, item in enumerate(value):
                    stack.append((item, _path(path, index), depth + 1))
    return None


def top_level_limits(schema: dict) -> tuple[tuple[str, type, int, str], ...]:
    """``(param, type, limit, rule)`` for each top-level param whose schema
    bounds its length (``maxLength``, ``maxItems``), checked with ``len``
    before the schema runs."""
    limits = []
    for name, sub in (schema.get("properties") or {}).items():
        if "maxItems" in sub:
            limits.append((name, list, sub["maxItems"], f"must have at most {sub['maxItems']} items"))
        if "maxLength" in sub:
            limits.append((name, str, sub["maxLength"], f"must be at most {sub['maxLength']} characters long"))
    return tuple(limits)
