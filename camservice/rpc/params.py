"""JSON Schema fragments for params, per API.md's parameter rules.

Patterns match the whole string (see :mod:`camservice.schema.compiler`).
"""

__all__ = ["CAMERA_ID", "FILENAME", "LIMIT", "OFFSET"]

CAMERA_ID = {"type": "string", "pattern": "^camera[0-9]+$", "maxLength": 32}
#: plain names: no "/", no "." or "..", no control characters, at most
#: 255 characters
FILENAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^(?!\\.\\.?$)[^/\\x00-\\x1f\\x7f]+$",
}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
OFFSET = {"type": "integer", "minimum": 0}
