"""camservice's compiled validators against jsonschema, error for error.

For every shipped schema (the configuration's and each method's params)
and every subschema in it, a corpus of values (the method examples, the
packaged configuration, and systematic mutations of them: wrong types,
numbers at and past each bound, strings around each length and pattern,
unknown and missing keys, bad enum values, duplicates, nested arrays,
``1.0`` for ``1``, ``true`` for ``1``...) plus seeded random values must
give the same errors, in the same order, with the same keyword, value,
path, instance and message, and the same words from ``describe``.
jsonschema before 4.21 words a minimum of 1 and a maximum of 0
differently ("is too short" for "should be non-empty"); ``describe`` puts
those rules into words of its own, so clients and administrators read the
same text on every release.
"""
from __future__ import annotations

import copy
import random

import pytest
import yaml
from jsonschema.exceptions import best_match

from camservice.config import loader
from camservice.schema import compile_schema, describe
from helpers.schemas import as_legacy, legacy_wording, method_table, reference, walk

LEGACY = legacy_wording()
TABLE = method_table()

JUNK = [
    None, True, False, 0, 1, -1, 1.0, 2.5, -0.5, 10 ** 12, "", "x", "1", "true", "camera1\n", " ", "\u00e9",
    "\U0001F600", [], [1], [1, True], [1, 1.0], [True, 1], [[1], [True]], [[]], ["a", "a"], {}, {"a": 1},
    {"a": {"b": [1]}}, [{"a": 1}, {"a": 1}], [[1], [1, 2]], [{"a": 1}, {"a": 1, "b": 2}], [1.0, 1],
    ["x", "y", "x"], {"zz": "1", "aa": [2], "mm": None, "bb": "x", "yy": {}, "cc": 1.5},
]


def _signature(error) -> tuple:
    message = error.message
    return (error.validator, error.validator_value, tuple(error.absolute_path), error.instance, message)


def _ours(error) -> tuple:
    validator, value, path, instance, message = _signature(error)
    if LEGACY:
        message = as_legacy(validator, value, message)
    return validator, value, path, instance, message


def _words(error, legacy=False) -> tuple:
    path, rule, value = describe(error)
    return path, (as_legacy(error.validator, error.validator_value, rule) if legacy else rule), value


def _sample(schema):
    """A plausible value for ``schema`` (not always a valid one)."""
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {name: _sample(sub) for name, sub in schema.get("properties", {}).items() if name in schema.get("required", [])}
    if kind == "array":
        return [_sample(schema["items"])] if isinstance(schema.get("items"), dict) else []
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return True
    if kind == "string":
        return "a" * max(schema.get("minLength", 1), 1)
    return None


def _bounds(schema) -> list:
    out = []
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if keyword in schema:
            b = schema[keyword]
            out += [b, b - 1, b + 1, b - 0.5, b + 0.5, float(b), -b]
    return out


def _lengths(schema, base) -> list:
    out = []
    for keyword in ("minLength", "maxLength"):
        if keyword in schema:
            n = schema[keyword]
            for m in (n - 1, n, n + 1):
                if m >= 0:
                    out += ["x" * m, "\u00e9" * m, "\U0001F600" * m]
                    if isinstance(base, str) and base:
                        out.append((base * (m // len(base) + 1))[:m])
    return out


def _strings(base) -> list:
    if not isinstance(base, str):
        return []
    return [base + "\n", "\n" + base, base + " ", base.upper(), base[:-1], base + base, base + "\r\n",
            base.replace("a", "\u00e4"), base + "/x", "." + base]


def _arrays(schema, base) -> list:
    if not isinstance(base, list):
        return []
    out = [[], base + base, [base], base[:1] * 2, base + [1], base + [None], list(reversed(base))]
    for keyword in ("minItems", "maxItems"):
        if keyword in schema and base:
            for m in (schema[keyword] - 1, schema[keyword], schema[keyword] + 1):
                if m >= 0:
                    out.append((base * (m // len(base) + 1))[:m])
    return out


def _objects(schema, base) -> list:
    if not isinstance(base, dict):
        return []
    out = [{}, dict(base, unknown_key=1), dict(base, zz=1, aa=[2]), dict(base, zz="1", aa=[2], mm=None, bb="x", yy={}, cc=1.5), dict(base, **{"": 0})]
    for name in schema.get("required", []):
        out.append({k: v for k, v in base.items() if k != name})
    for name, sub in schema.get("properties", {}).items():
        for junk in (None, "x", 1, 1.0, True, [], {}):
            out.append(dict(base, **{name: junk}))
        if "enum" in sub:
            out.append(dict(base, **{name: str(sub["enum"][0]) + "\n"}))
    return out


def mutations(schema, base) -> list:
    values = [base] if base is not None else []
    values += JUNK + _bounds(schema) + _lengths(schema, base) + _strings(base) + _arrays(schema, base) + _objects(schema, base)
    for each in schema.get("enum", []):
        values += [each, str(each) + "\n", str(each).upper(), [each]]
    if "const" in schema:
        values += [schema["const"], [schema["const"]], str(schema["const"]) + " "]
    return values


def _locations(schema, value, path=()):
    """(instance path, subschema, value there or a sample) along ``value``."""
    if not isinstance(schema, dict):
        return
    yield path, schema, value if value is not None else _sample(schema)
    here = value if value is not None else _sample(schema)
    for name, sub in schema.get("properties", {}).items():
        child = here.get(name) if isinstance(here, dict) else None
        yield from _locations(sub, child, path + (name,))
    if isinstance(schema.get("additionalProperties"), dict):
        extras = [k for k in (here if isinstance(here, dict) else {}) if k not in schema.get("properties", {})]
        for key in extras[:2] or ["some_key"]:
            yield from _locations(schema["additionalProperties"], here.get(key) if extras else None, path + (key,))
    if isinstance(schema.get("items"), dict):
        items = here if isinstance(here, list) and here else [None]
        for index, item in enumerate(items[:2]):
            yield from _locations(schema["items"], item, path + (index,))


def _set(document, path, value):
    out = copy.deepcopy(document)
    target = out
    for part in path[:-1]:
        if isinstance(target, dict) and part in target or isinstance(target, list) and isinstance(part, int) and part < len(target):
            target = target[part]
        else:
            return None
    if isinstance(target, dict) or (isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target)):
        target[path[-1]] = value
        return out
    return None


def _compare(ours, theirs, value) -> None:
    got = list(ours.iter_errors(value))
    want = list(theirs.iter_errors(value))
    assert [_ours(e) for e in got] == [_signature(e) for e in want], value
    assert [_words(e, LEGACY) for e in got] == [_words(e) for e in want], value
    assert ours.is_valid(value) is (not want)
    if want:
        # what the dispatcher took before: best_match of the first error
        # alone is that error (no anyOf/oneOf, so no sub-errors to prefer)
        assert best_match(want[:1]) is want[0]


def _random_value(rng, depth=0):
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and roll < 0.3:
        keys = ["a", "device", "enabled", "port", "x", "id", "kind", "url", "topics"]
        return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return rng.choice([None, True, False, 0, 1, -3, 1.0, 0.5, 65535, 65536, "", "a", "camera7", "camera7\n",
                       "rtsp", "hls", "info", "\U0001F600" * 3, "x" * 70, "mp4", "age"])


def _packaged_configuration() -> dict:
    document = yaml.safe_load(loader.default_config_path().read_text("utf-8"))
    loader._fill_defaults(document, loader.schema())
    return document


def _cases():
    yield "configuration", loader.schema(), _packaged_configuration()
    for spec in TABLE:
        yield f"params of {spec.name}", spec.params, dict(spec.example)


CASES = list(_cases())


@pytest.mark.parametrize("name, schema, example", CASES, ids=[c[0] for c in CASES])
def test_the_compiled_validator_gives_jsonschemas_errors(name, schema, example):
    ours_root, theirs_root = compile_schema(schema), reference(schema)
    compared = 0
    roots = 0
    for path, sub, base in _locations(schema, example):
        ours, theirs = compile_schema(sub), reference(sub)
        values = mutations(sub, base)
        for value in values:
            _compare(ours, theirs, value)
            compared += 1
        # the whole document with the mutation in place: the paths from
        # the root (the configuration's validation is slow: a few per key)
        for value in values if name != "configuration" else values[:4]:
            document = _set(example, path, value) if path else value
            if document is not None:
                _compare(ours_root, theirs_root, document)
                roots += 1
    rng = random.Random(name)
    for _ in range(200 if name == "configuration" else 60):
        value = _random_value(rng)
        _compare(ours_root, theirs_root, value)
        if isinstance(example, dict) and isinstance(value, dict):
            _compare(ours_root, theirs_root, dict(example, **value))
    assert compared > 20 and roots > 0


def test_every_subschema_of_the_shipped_schemas_is_compared():
    # the if/then/else, not and contains subschemas are reached through
    # the subschema holding them; all others are a location of their own
    for name, schema, example in CASES:
        reached = {id(sub) for _path, sub, _base in _locations(schema, example)}
        for spath, sub in walk(schema):
            if not set(spath) & {"if", "then", "else", "not", "contains"}:
                assert id(sub) in reached, (name, spath)
