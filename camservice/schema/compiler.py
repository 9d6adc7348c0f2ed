"""Compile a JSON Schema (the subset camservice uses) into closures.

Every request's params and every configuration load are validated, so a
schema is compiled once into two functions per node: a predicate (no
allocation, the hot path) and an error generator (run only on invalid
input). The semantics and the errors (order, keyword, value, path and
message) are those of jsonschema's ``Draft202012Validator``, with one
deliberate change: ``pattern`` and ``patternProperties`` match the whole
string (``re.fullmatch``), so ``"camera1\\n"`` is not a camera id
(Python's ``$`` also matches before a final newline); so does
``additionalProperties`` when it asks which keys ``patternProperties``
covers.

The compiler fails closed: a keyword it does not implement, or a value it
does not understand, raises :class:`SchemaError` when the schema is
compiled, never at validation time and never silently.
"""
from __future__ import annotations

import itertools
import numbers
import re
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator

__all__ = ["DRAFT", "SchemaError", "ValidationError", "Validator", "compile_schema", "equal", "uniq"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: keywords that only annotate: ignored, as jsonschema ignores them
ANNOTATIONS = frozenset((
    "$schema", "$id", "$comment", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly",
))
#: keywords whose value are read by the keyword next to them ("if")
_COMPANIONS = frozenset(("then", "else"))

_Predicate = Callable[[Any], bool]
_Errors = Callable[[Any, tuple], Iterator["ValidationError"]]


class SchemaError(ValueError):
    """A schema uses a keyword or value this compiler does not implement."""


class ValidationError:
    """One violation, with the attributes of ``jsonschema.ValidationError``
    that camservice reads.

    :ivar validator: the keyword violated (``"type"``, ``"required"``...).
    :ivar validator_value: that keyword's value in the schema.
    :ivar instance: the offending value.
    :ivar schema: the (sub)schema holding the keyword.
    :ivar absolute_path: where the offending value is, from the root.
    :ivar absolute_schema_path: where the keyword is in the schema.
    """

    __slots__ = ("message", "validator", "validator_value", "instance", "schema",
                 "absolute_path", "absolute_schema_path")

    def __init__(self, message, validator, validator_value, instance, schema, path, schema_path):
        self.message = message
        self.validator = validator
        self.validator_value = validator_value
        self.instance = instance
        self.schema = schema
        self.absolute_path = deque(path)
        self.absolute_schema_path = deque(schema_path)

    @property
    def path(self) -> deque:
        return self.absolute_path

    relative_path = path

    @property
    def schema_path(self) -> deque:
        return self.absolute_schema_path

    relative_schema_path = schema_path

    @property
    def context(self) -> list:
        # no applicator camservice uses (anyOf, oneOf) gathers sub-errors
        return []

    @property
    def parent(self):
        return None

    def __repr__(self) -> str:
        return f"<ValidationError: {self.message!r}>"

    def __str__(self) -> str:
        return self.message


class Validator:
    """A compiled schema: ``is_valid`` and ``iter_errors`` as jsonschema's."""

    __slots__ = ("schema", "_valid", "_errors")

    def __init__(self, schema: dict, valid: _Predicate, errors: _Errors):
        self.schema = schema
        self._valid = valid
        self._errors = errors

    def is_valid(self, instance) -> bool:
        return self._valid(instance)

    def iter_errors(self, instance) -> Iterator[ValidationError]:
        """Every violation, in jsonschema's order; built lazily, so taking
        the first one costs one."""
        if self._valid(instance):
            return iter(())
        return self._errors(instance, ())


def compile_schema(schema: dict) -> Validator:
    """Compile ``schema`` (Draft 2020-12, the subset camservice uses).

    :raises SchemaError: a keyword or value not implemented here.
    """
    if not isinstance(schema, dict):
        raise SchemaError(f"a schema must be an object, not {schema!r}")
    draft = schema.get("$schema", DRAFT)
    if draft != DRAFT:
        # other drafts differ (items, $ref siblings, integer)
        raise SchemaError(f"only {DRAFT} is supported, not {draft!r}")
    valid, errors = _node(schema, ())
    return Validator(schema, valid, errors)


# -- JSON equality and types, as jsonschema's _utils and _types ----------------

def _unbool(element, true=object(), false=object()):
    if element is True:
        return true
    if element is False:
        return false
    return element


def equal(one, two) -> bool:
    """JSON equality: ``1 == 1.0`` but ``True != 1``, deeply."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(i, j) for i, j in zip(one, two))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and equal(value, two[key]) for key, value in one.items())
    return _unbool(one) == _unbool(two)


def uniq(container) -> bool:
    """Whether all items differ (by :func:`equal`)."""
    try:
        sort = sorted(_unbool(i) for i in container)
        for i, j in zip(sort, itertools.islice(sort, 1, None)):
            if equal(i, j):
                return False
    except (NotImplementedError, TypeError):
        seen: list = []
        for e in container:
            e = _unbool(e)
            for i in seen:
                if equal(i, e):
                    return False
            seen.append(e)
    return True


def _is_integer(x) -> bool:
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


def _is_number(x) -> bool:
    if isinstance(x, bool):
        return False
    return isinstance(x, (int, float)) or isinstance(x, numbers.Number)


_TYPES: dict[str, _Predicate] = {
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "integer": _is_integer,
    "null": lambda x: x is None,
    "number": _is_number,
    "object": lambda x: isinstance(x, dict),
    "string": lambda x: isinstance(x, str),
}


# -- compiling -------------------------------------------------------------------

def _true(_x) -> bool:
    return True


def _no_errors(_x, _path):
    return iter(())


def _all(predicates: list) -> _Predicate:
    if not predicates:
        return _true
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        a, b = predicates
        return lambda x: a(x) and b(x)
    predicates = tuple(predicates)

    def valid(x) -> bool:
        for p in predicates:
            if not p(x):
                return False
        return True

    return valid


def _node(schema, spath: tuple) -> tuple[_Predicate, _Errors]:
    """A subschema: its predicate and its error generator."""
    if not isinstance(schema, dict):
        # jsonschema versions disagree on the path of a boolean
        # subschema's error: not supported, rather than guessed
        raise SchemaError(f"at {_where(spath)}: a subschema must be an object, not {schema!r}")
    predicates: list = []
    generators: list = []
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS or keyword in _COMPANIONS:
            continue
        build = _KEYWORDS.get(keyword)
        if build is None:
            raise SchemaError(f"at {_where(spath)}: keyword {keyword!r} is not supported")
        built = build(value, schema, spath + (keyword,))
        if built is None:
            continue
        if built[0] is not _true:
            predicates.append(built[0])
        generators.append(built[1])
    for companion in _COMPANIONS:
        if companion in schema and "if" not in schema:
            _node(schema[companion], spath + (companion,))  # still checked: fail closed
    generators = tuple(generators)

    def errors(x, path):
        for generate in generators:
            yield from generate(x, path)

    return _all(predicates), (errors if generators else _no_errors)


def _simple(schema, keyword, value, spath, valid: _Predicate, message: Callable[[Any], str]):
    """A keyword that judges the instance itself (no subschema)."""

    def errors(x, path):
        if not valid(x):
            yield ValidationError(message(x), keyword, value, x, schema, path, spath)

    return valid, errors


def _where(spath) -> str:
    return "/".join(map(str, spath)) or "the root"


def _need(condition: bool, spath, what: str) -> None:
    if not condition:
        raise SchemaError(f"at {_where(spath)}: {what}")


def _count(value, spath) -> int:
    _need(isinstance(value, int) and not isinstance(value, bool) and value >= 0, spath,
          f"must be a non-negative integer, not {value!r}")
    return value


def _k_type(value, schema, spath):
    names = [value] if isinstance(value, str) else value
    _need(isinstance(names, list) and names and all(n in _TYPES for n in names), spath,
          f"unknown type {value!r}")
    checks = tuple(_TYPES[n] for n in names)
    if len(checks) == 1:
        valid = checks[0]
    else:
        def valid(x):
            return any(check(x) for check in checks)
    reprs = ", ".join(repr(n) for n in names)
    return _simple(schema, "type", value, spath, valid, lambda x: f"{x!r} is not of type {reprs}")


def _bound(keyword, compare, text):
    def build(value, schema, spath):
        _need(_is_number(value), spath, f"must be a number, not {value!r}")

        def valid(x):
            return not _is_number(x) or not compare(x, value)

        return _simple(schema, keyword, value, spath, valid, lambda x: f"{x!r} {text} {value!r}")

    return build


def _length(keyword, kind, text, special):
    """minLength/maxLength/minItems/maxItems/minProperties (jsonschema's
    words: "should be non-empty" for a minimum of 1, "is expected to be
    empty" for a maximum of 0)."""
    at_least = keyword.startswith("min")

    def build(value, schema, spath):
        limit = _count(value, spath)
        words = special if limit == (1 if at_least else 0) else text
        if at_least:
            def valid(x):
                return not isinstance(x, kind) or len(x) >= limit
        else:
            def valid(x):
                return not isinstance(x, kind) or len(x) <= limit
        return _simple(schema, keyword, value, spath, valid, lambda x: f"{x!r} {words}")

    return build


def _k_enum(value, schema, spath):
    _need(isinstance(value, list), spath, f"must be an array, not {value!r}")
    if all(isinstance(each, str) for each in value):
        strings = frozenset(value)

        def valid(x):
            return isinstance(x, str) and x in strings
    else:
        def valid(x):
            return any(equal(each, x) for each in value)
    return _simple(schema, "enum", value, spath, valid, lambda x: f"{x!r} is not one of {value!r}")


def _k_const(value, schema, spath):
    return _simple(schema, "const", value, spath, lambda x: equal(x, value), lambda x: f"{value!r} was expected")


def _k_pattern(value, schema, spath):
    _need(isinstance(value, str), spath, f"must be a string, not {value!r}")
    fullmatch = re.compile(value).fullmatch

    def valid(x):
        return not isinstance(x, str) or fullmatch(x) is not None

    return _simple(schema, "pattern", value, spath, valid, lambda x: f"{x!r} does not match {value!r}")


def _k_unique(value, schema, spath):
    _need(isinstance(value, bool), spath, f"must be a boolean, not {value!r}")
    if not value:
        return None

    def valid(x):
        return not isinstance(x, list) or uniq(x)

    return _simple(schema, "uniqueItems", value, spath, valid, lambda x: f"{x!r} has non-unique elements")


def _k_required(value, schema, spath):
    _need(isinstance(value, list) and all(isinstance(n, str) for n in value), spath,
          f"must be an array of strings, not {value!r}")
    if not value:
        return None
    names = tuple(value)

    def valid(x):
        if not isinstance(x, dict):
            return True
        for name in names:
            if name not in x:
                return False
        return True

    def errors(x, path):
        if isinstance(x, dict):
            for name in names:
                if name not in x:
                    yield ValidationError(f"{name!r} is a required property", "required", value, x, schema, path, spath)

    return valid, errors


def _k_properties(value, schema, spath):
    _need(isinstance(value, dict), spath, f"must be an object, not {value!r}")
    subs = {name: _node(sub, spath + (name,)) for name, sub in value.items()}
    checks = {name: v for name, (v, _e) in subs.items()}
    ordered = tuple((name, e) for name, (_v, e) in subs.items())
    closed = schema.get("additionalProperties") is False and "patternProperties" not in schema

    if closed:
        # fused with additionalProperties: false (validity only; the
        # errors still come keyword by keyword)
        def valid(x):
            if not isinstance(x, dict):
                return True
            for key, item in x.items():
                check = checks.get(key)
                if check is None or not check(item):
                    return False
            return True
    else:
        def valid(x):
            if not isinstance(x, dict):
                return True
            for key, item in x.items():
                check = checks.get(key)
                if check is not None and not check(item):
                    return False
            return True

    def errors(x, path):
        if isinstance(x, dict):
            for name, generate in ordered:
                if name in x:
                    yield from generate(x[name], path + (name,))

    return valid, errors


def _k_pattern_properties(value, schema, spath):
    _need(isinstance(value, dict), spath, f"must be an object, not {value!r}")
    subs = tuple((re.compile(p).fullmatch, p, _node(sub, spath + (p,))) for p, sub in value.items())

    def valid(x):
        if not isinstance(x, dict):
            return True
        for match, _p, (check, _e) in subs:
            for key, item in x.items():
                if match(key) and not check(item):
                    return False
        return True

    def errors(x, path):
        if isinstance(x, dict):
            for match, _p, (_v, generate) in subs:
                for key, item in x.items():
                    if match(key):
                        yield from generate(item, path + (key,))

    return valid, errors


def _k_additional(value, schema, spath):
    properties = schema.get("properties", {})
    patterns = tuple(re.compile(p).fullmatch for p in schema.get("patternProperties", {}))

    def extras(x):
        # a set built the way jsonschema builds it: same iteration order
        return set(k for k in x if k not in properties and not any(m(k) for m in patterns))

    if isinstance(value, bool):
        if value:
            return None
        if "patternProperties" in schema:
            regexes = ", ".join(repr(p) for p in sorted(schema["patternProperties"]))

            def message(found):
                verb = "does" if len(found) == 1 else "do"
                return f"{', '.join(repr(k) for k in sorted(found))} {verb} not match any of the regexes: {regexes}"
        else:
            def message(found):
                verb = "was" if len(found) == 1 else "were"
                return f"Additional properties are not allowed ({', '.join(repr(k) for k in sorted(found, key=str))} {verb} unexpected)"

        if "properties" in schema and not patterns:
            valid = _true  # checked by properties' predicate, fused
        else:
            def valid(x):
                if not isinstance(x, dict):
                    return True
                for key in x:
                    if key not in properties and not any(m(key) for m in patterns):
                        return False
                return True

        def errors(x, path):
            if isinstance(x, dict):
                found = extras(x)
                if found:
                    yield ValidationError(message(found), "additionalProperties", value, x, schema, path, spath)

        return valid, errors
    check, generate = _node(value, spath)

    def valid(x):
        if not isinstance(x, dict):
            return True
        for key, item in x.items():
            if key not in properties and not any(m(key) for m in patterns) and not check(item):
                return False
        return True

    def errors(x, path):
        if isinstance(x, dict):
            for key in extras(x):
                yield from generate(x[key], path + (key,))

    return valid, errors


def _k_items(value, schema, spath):
    _need("prefixItems" not in schema, spath, "prefixItems is not supported")
    if value is True:
        return None
    check, generate = _node(value, spath)

    def valid(x):
        if not isinstance(x, list):
            return True
        for item in x:
            if not check(item):
                return False
        return True

    def errors(x, path):
        if isinstance(x, list):
            for index, item in enumerate(x):
                yield from generate(item, path + (index,))

    return valid, errors


def _k_contains(value, schema, spath):
    check, _generate = _node(value, spath)

    def valid(x):
        if not isinstance(x, list):
            return True
        for item in x:
            if check(item):
                return True
        return False

    return _simple(schema, "contains", value, spath, valid,
                   lambda x: f"{x!r} does not contain items matching the given schema")


def _k_not(value, schema, spath):
    check, _generate = _node(value, spath)
    return _simple(schema, "not", value, spath, lambda x: not check(x),
                   lambda x: f"{x!r} should not be valid under {value!r}")


def _k_if(value, schema, spath):
    condition, _generate = _node(value, spath)
    base = spath[:-1]
    then_valid, then_errors = _node(schema["then"], base + ("then",)) if "then" in schema else (_true, _no_errors)
    else_valid, else_errors = _node(schema["else"], base + ("else",)) if "else" in schema else (_true, _no_errors)

    def valid(x):
        return then_valid(x) if condition(x) else else_valid(x)

    def errors(x, path):
        if condition(x):
            yield from then_errors(x, path)
        else:
            yield from else_errors(x, path)

    return valid, errors


_KEYWORDS: dict[str, Callable] = {
    "type": _k_type,
    "enum": _k_enum,
    "const": _k_const,
    "minimum": _bound("minimum", lambda x, v: x < v, "is less than the minimum of"),
    "maximum": _bound("maximum", lambda x, v: x > v, "is greater than the maximum of"),
    "exclusiveMinimum": _bound("exclusiveMinimum", lambda x, v: x <= v, "is less than or equal to the minimum of"),
    "exclusiveMaximum": _bound("exclusiveMaximum", lambda x, v: x >= v, "is greater than or equal to the maximum of"),
    "minLength": _length("minLength", str, "is too short", "should be non-empty"),
    "maxLength": _length("maxLength", str, "is too long", "is expected to be empty"),
    "minItems": _length("minItems", list, "is too short", "should be non-empty"),
    "maxItems": _length("maxItems", list, "is too long", "is expected to be empty"),
    "minProperties": _length("minProperties", dict, "does not have enough properties", "should be non-empty"),
    "maxProperties": _length("maxProperties", dict, "has too many properties", "is expected to be empty"),
    "pattern": _k_pattern,
    "uniqueItems": _k_unique,
    "required": _k_required,
    "properties": _k_properties,
    "patternProperties": _k_pattern_properties,
    "additionalProperties": _k_additional,
    "items": _k_items,
    "contains": _k_contains,
    "not": _k_not,
    "if": _k_if,
}
#: the keywords :func:`compile_schema` implements
SUPPORTED = frozenset(_KEYWORDS)
