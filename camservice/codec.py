"""JSON encoding for the wire: a C codec when installed, the stdlib otherwise.

The codec is a fifth of the per-request cost of the API, so ``orjson`` (PyPI)
or ``ujson`` (Debian's python3-ujson) is used when importable. All three
produce compact UTF-8 JSON with non-ASCII characters left as they are.
"""
from __future__ import annotations

import json
from typing import Any, Callable

__all__ = ["CODEC", "dumps", "loads"]

loads: Callable[[bytes | str], Any]
dumps: Callable[[Any], bytes]

try:
    import orjson as _orjson

    def dumps(obj: Any) -> bytes:
        """Serialise ``obj`` to compact UTF-8 JSON bytes."""
        return _orjson.dumps(obj)

    loads = _orjson.loads
    CODEC = "orjson"
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import ujson as _ujson

        def dumps(obj: Any) -> bytes:
            """Serialise ``obj`` to compact UTF-8 JSON bytes."""
            return _ujson.dumps(
                obj, ensure_ascii=False, escape_forward_slashes=False
            ).encode("utf-8")

        loads = _ujson.loads
        CODEC = "ujson"
    except ImportError:
        _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

        def dumps(obj: Any) -> bytes:
            """Serialise ``obj`` to compact UTF-8 JSON bytes."""
            return _encoder.encode(obj).encode("utf-8")

        loads = json.loads
        CODEC = "json"
