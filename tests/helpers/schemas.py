"""The schemas camservice ships, and jsonschema as the reference their
compiled validators are checked against.

The reference is jsonschema's Draft 2020-12 validator with ``pattern`` and
``patternProperties`` matching whole strings, as camservice's compiler
does (camservice validated with exactly that before it had a compiler).
"""
from __future__ import annotations

import functools
import re

import jsonschema
from jsonschema.exceptions import ValidationError


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


Reference = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"pattern": _whole_pattern, "patternProperties": _whole_pattern_properties},
)


def reference(schema: dict):
    """jsonschema's validator for ``schema``, patterns matched whole."""
    return Reference(schema)


def legacy_wording() -> bool:
    """Whether this jsonschema says "is too short" where newer ones say
    "should be non-empty" (before 4.21)."""
    error = next(jsonschema.Draft202012Validator({"minLength": 1}).iter_errors(""))
    return error.message.endswith("is too short")


_LEGACY = {
    "minLength": ("should be non-empty", "is too short", 1),
    "minItems": ("should be non-empty", "is too short", 1),
    "minProperties": ("should be non-empty", "does not have enough properties", 1),
    "maxLength": ("is expected to be empty", "is too long", 0),
    "maxItems": ("is expected to be empty", "is too long", 0),
    "maxProperties": ("is expected to be empty", "has too many properties", 0),
}


def as_legacy(keyword, value, message: str) -> str:
    """The message in the words of jsonschema before 4.21."""
    rule = _LEGACY.get(keyword)
    if rule is not None and value == rule[2] and message.endswith(rule[0]):
        return message[: -len(rule[0])] + rule[1]
    return message


def method_table():
    """The registered methods (the service as shipped, default config)."""
    from twisted.internet.task import Clock

    from camservice.config import load_config
    from helpers.harness import make_harness

    clock = Clock()
    clock.advance(1_700_000_000)
    harness = make_harness(load_config(environ={}, euid=1000), clock)
    harness.stop()
    return harness.dispatcher.table


def shipped_schemas() -> dict:
    """``name -> schema``: the configuration's and every method's params."""
    from camservice.config.loader import schema

    out = {"configuration": schema()}
    for spec in method_table():
        out[f"params of {spec.name}"] = spec.params
    return out


#: keywords whose value holds one subschema / a map of subschemas
SUBSCHEMA = ("items", "contains", "not", "if", "then", "else", "additionalProperties")
SUBSCHEMA_MAPS = ("properties", "patternProperties")


def walk(schema, path=()):
    """Every (sub)schema of ``schema`` with its path in the schema."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for keyword in SUBSCHEMA:
        if isinstance(schema.get(keyword), dict):
            yield from walk(schema[keyword], path + (keyword,))
    for keyword in SUBSCHEMA_MAPS:
        for name, sub in schema.get(keyword, {}).items():
            yield from walk(sub, path + (keyword, name))
