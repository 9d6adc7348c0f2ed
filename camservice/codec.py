"""JSON encoding for the wire: a C codec when installed, the stdlib otherwise.

The codec is a fifth of the per-request cost of the API, so ``orjson`` (PyPI)
or ``ujson`` (Debian's python3-ujson) is used when importable. All three
produce compact UTF-8 JSON with non-ASCII characters left as they are, and
all three refuse input they cannot parse with ``ValueError``: nesting too
deep for the codec (about a thousand levels; the stdlib's ``RecursionError``
is turned into ``ValueError``) is a parse error like any other.

:func:`codec` builds any one of them by name, so each can be tested
whichever is installed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["CODEC", "CODECS", "Codec", "codec", "dumps", "loads"]

#: codec names, best first
CODECS = ("orjson", "ujson", "json")


@dataclass(frozen=True)
class Codec:
    """One JSON codec.

    :ivar loads: ``bytes | str -> value``; raises ``ValueError`` on
        anything that is not JSON it can read.
    :ivar dumps: ``value -> bytes`` (compact UTF-8).
    """

    name: str
    loads: Callable[[bytes | str], Any]
    dumps: Callable[[Any], bytes]


def _orjson() -> Codec:
    import orjson

    return Codec("orjson", orjson.loads, orjson.dumps)


def _ujson() -> Codec:
    import ujson

    def dumps(obj: Any) -> bytes:
        return ujson.dumps(obj, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8")

    def loads(data: bytes | str) -> Any:
        try:
            return ujson.loads(data)
        except RecursionError:  # pragma: no cover - ujson has its own depth limit
            raise ValueError("nesting too deep")

    return Codec("ujson", loads, dumps)


def _stdlib() -> Codec:
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    decode = json.loads

    def dumps(obj: Any) -> bytes:
        return encoder.encode(obj).encode("utf-8")

    def loads(data: bytes | str) -> Any:
        try:
            return decode(data)
        except RecursionError:
            raise ValueError("nesting too deep")

    return Codec("json", loads, dumps)


_BUILDERS = {"orjson": _orjson, "ujson": _ujson, "json": _stdlib}


def codec(name: str) -> Codec:
    """The codec called ``name`` (one of :data:`CODECS`).

    :raises ImportError: its library is not installed.
    """
    return _BUILDERS[name]()


def _best() -> Codec:
    for name in CODECS:
        try:
            return codec(name)
        except ImportError:
            continue
    raise AssertionError("the stdlib codec is always there")  # pragma: no cover


_CHOSEN = _best()
CODEC: str = _CHOSEN.name
loads: Callable[[bytes | str], Any] = _CHOSEN.loads
dumps: Callable[[Any], bytes] = _CHOSEN.dumps
