"""JSON Schema violations in words a person can act on.

Shared by the configuration loader and the JSON-RPC params validation, so
both speak of ``key``/``param``, the value and the rule the same way.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["describe", "dotted"]

_RULES = {
    "type": lambda v: "must be of type " + (" or ".join(v) if isinstance(v, list) else v),
    "minimum": lambda v: f"must be at least {v}",
    "maximum": lambda v: f"must be at most {v}",
    "exclusiveMinimum": lambda v: f"must be greater than {v}",
    "exclusiveMaximum": lambda v: f"must be less than {v}",
    "enum": lambda v: "must be one of: " + ", ".join(map(str, v)),
    "const": lambda v: f"must be {v!r}",
    "pattern": lambda v: f"must match the pattern {v}",
    "minLength": lambda v: f"must be at least {v} characters long",
    "maxLength": lambda v: f"must be at most {v} characters long",
    "minItems": lambda v: f"must have at least {v} items",
    "maxItems": lambda v: f"must have at most {v} items",
    "uniqueItems": lambda v: "must not repeat items",
    "minProperties": lambda v: f"must have at least {v} entries",
}


def dotted(path) -> str:
    """``("a", 0, "b")`` -> ``"a[0].b"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error) -> tuple[tuple, str, Any]:
    """Explain one schema violation (a :class:`camservice.schema.ValidationError`).

    :returns: ``(path, rule, value)``: the path of the offending key (for an
        unknown or missing key, the path *to that key*), the rule in words,
        and the offending value (``None`` when the key is missing).
    """
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        key = unknown[0] if unknown else ""
        return (
            path + (key,),
            "is unknown (allowed: " + (", ".join(allowed) or "none") + ")",
            error.instance.get(key),
        )
    if error.validator == "required":
        missing = re.match(r"'([^']+)'", error.message)
        return path + ((missing.group(1),) if missing else ()), "is required", None
    rule = _RULES.get(error.validator)
    return path, rule(error.validator_value) if rule else error.message, error.instance
