"""The schema compiler: every keyword the shipped schemas use is
implemented, anything else is refused when compiling, and the shipped
schemas are valid JSON Schema."""
from __future__ import annotations

import jsonschema
import pytest

from camservice.schema import SchemaError, compile_schema
from camservice.schema.compiler import ANNOTATIONS, SUPPORTED
from helpers.schemas import shipped_schemas, walk

SCHEMAS = shipped_schemas()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_keyword_of_the_shipped_schemas_is_supported(name):
    used = {keyword for _path, sub in walk(SCHEMAS[name]) for keyword in sub}
    assert used - SUPPORTED - ANNOTATIONS - {"then", "else"} == set()
    compile_schema(SCHEMAS[name])


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_shipped_schemas_are_valid_json_schema(name):
    # once here rather than at every start: the schemas are static
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[name])


def test_enums_of_the_shipped_schemas_are_scalars():
    # jsonschema's releases compare arrays and objects in an enum
    # differently (4.10: [1] is one of [[true]], newer ones say not); for
    # scalars they agree
    for schema in SCHEMAS.values():
        for _path, sub in walk(schema):
            for each in sub.get("enum", []) + ([sub["const"]] if "const" in sub else []):
                assert each is None or isinstance(each, (str, int, float, bool)), sub


@pytest.mark.parametrize("schema", [
    {"format": "uri"},
    {"type": "string", "formatt": "typo"},
    {"properties": {"a": {"$ref": "#/x"}}},
    {"anyOf": [{"type": "string"}]},
    {"items": {"type": "integer", "multipleOf": 2}},
    {"if": {"required": ["a"]}, "then": {"dependentRequired": {"a": ["b"]}}},
    {"then": {"unknownKeyword": 1}},
    {"prefixItems": [{}]},
    {"type": "nonsense"},
    {"type": ["string", "nonsense"]},
    {"minimum": "1"},
    {"minLength": -1},
    {"minLength": True},
    {"enum": "a"},
    {"required": "a"},
    {"properties": {"a": True}},
    {"items": False},
    {"$schema": "http://json-schema.org/draft-07/schema#"},
])
def test_what_is_not_implemented_is_refused_when_compiling(schema):
    with pytest.raises(SchemaError):
        compile_schema(schema)


@pytest.mark.parametrize("schema, value, ok", [
    ({"type": "integer"}, 1, True),
    ({"type": "integer"}, 1.0, True),  # Draft 2020-12: 1.0 is an integer
    ({"type": "integer"}, 1.5, False),
    ({"type": "integer"}, True, False),
    ({"type": "number"}, False, False),
    ({"type": "number"}, 2.5, True),
    ({"type": "boolean"}, 0, False),
    ({"type": ["string", "null"]}, None, True),
    ({"maxLength": 2}, "\U0001F600\U0001F600", True),  # code points, not bytes
    ({"maxLength": 1}, "e\u0301", False),
    ({"enum": ["a"]}, "a", True),
    ({"enum": [1, "a"]}, 1.0, True),
    ({"enum": [1, "a"]}, True, False),
    ({"const": 0}, False, False),
    ({"const": [1]}, [1.0], True),
    ({"uniqueItems": True}, [1, True], True),
    ({"uniqueItems": True}, [1, 1.0], False),
    ({"uniqueItems": True}, [[1], [True]], True),
    ({"uniqueItems": True}, [{"a": 1}, {"a": 1}], False),
    ({"pattern": "^a$"}, "a\n", False),
    ({"pattern": "a"}, "ba", False),  # whole string, not search
    ({"minimum": 1}, "0", True),  # bounds apply to numbers only
    ({"contains": {"const": "rtsp"}}, [], False),
    ({"not": {"required": ["url"]}}, {"url": 1}, False),
])
def test_semantics(schema, value, ok):
    assert compile_schema(schema).is_valid(value) is ok
    assert (list(compile_schema(schema).iter_errors(value)) == []) is ok


def test_iter_errors_builds_errors_lazily():
    validator = compile_schema({"type": "array", "items": {"type": "string"}})
    errors = validator.iter_errors([1, 2, 3])
    first = next(errors)
    assert (first.validator, tuple(first.absolute_path), first.message) == ("type", (0,), "1 is not of type 'string'")
    assert [tuple(e.absolute_path) for e in errors] == [(1,), (2,)]


def test_errors_carry_what_callers_read():
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"maximum": 3}}}}}
    (error,) = compile_schema(schema).iter_errors({"a": {"b": 4}})
    assert error.validator == "maximum" and error.validator_value == 3 and error.instance == 4
    assert error.schema == {"maximum": 3}
    assert list(error.absolute_path) == ["a", "b"] and list(error.path) == ["a", "b"]
    assert list(error.absolute_schema_path) == ["properties", "a", "properties", "b", "maximum"]
    assert error.message == "4 is greater than the maximum of 3" and error.context == []
