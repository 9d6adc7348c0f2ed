"""Schema patterns match the whole string: no trailing-newline hole."""
from __future__ import annotations

import pytest

from camservice.rpc.params import CAMERA_ID, FILENAME
from camservice.schema import SchemaError, compile_schema


def _ok(schema, value) -> bool:
    return compile_schema(schema).is_valid(value)


@pytest.mark.parametrize("value, ok", [
    ("camera1000", True), ("camera1000\n", False), ("\ncamera1", False), ("camera", False), ("xcamera1", False),
])
def test_camera_ids_match_whole(value, ok):
    assert _ok(CAMERA_ID, value) is ok


@pytest.mark.parametrize("value, ok", [
    ("rec.mp4", True), ("rec.mp4\n", False), ("a\rb", False), ("..", False), (".", False), ("..\n", False),
    ("a/b", False), ("a\x00", False), ("...", True),
])
def test_filenames_match_whole(value, ok):
    assert _ok(FILENAME, value) is ok


def test_pattern_properties_match_whole_keys():
    schema = {"type": "object", "patternProperties": {"^a$": {"type": "integer"}}}
    assert not _ok(schema, {"a": "x"})
    assert _ok(schema, {"a\n": "x"})  # "a\n" is not "a": the rule does not apply


def test_the_schema_itself_is_checked():
    with pytest.raises(SchemaError):
        compile_schema({"type": "nonsense"})


def test_keys_a_pattern_does_not_match_whole_are_additional():
    schema = {"type": "object", "patternProperties": {"^a$": {"type": "integer"}}, "additionalProperties": False}
    assert _ok(schema, {"a": 1})
    (error,) = compile_schema(schema).iter_errors({"a\n": 1})
    assert error.validator == "additionalProperties"
    assert error.message == "'a\\n' does not match any of the regexes: '^a$'"
