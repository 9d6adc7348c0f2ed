"""JSON Schema validators whose ``pattern`` matches the whole string.

jsonschema applies ``pattern`` with ``re.search``, and Python's ``$``
also matches before a final newline, so ``^camera[0-9]+$`` accepts
``"camera1\n"``. Every schema camservice checks (params and config) goes
through :func:`strict_validator`, which uses ``re.fullmatch`` instead.
"""
from __future__ import annotations

import functools
import re

import jsonschema
from jsonschema.exceptions import ValidationError

__all__ = ["strict_validator"]


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _whole_pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and _compiled(pattern).fullmatch(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _whole_pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _compiled(pattern).fullmatch(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


@functools.lru_cache(maxsize=None)
def _strict(base):
    return jsonschema.validators.extend(
        base, {"pattern": _whole_pattern, "patternProperties": _whole_pattern_properties}
    )


def strict_validator(schema: dict, default=jsonschema.Draft202012Validator):
    """A validator for ``schema`` (checked first) whose patterns match
    whole strings.

    :param default: the draft for a schema without ``$schema``.
    :raises jsonschema.SchemaError: ``schema`` is not a valid schema.
    """
    base = jsonschema.validators.validator_for(schema, default=default)
    base.check_schema(schema)
    return _strict(base)(schema)
