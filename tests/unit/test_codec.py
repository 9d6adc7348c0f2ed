"""Every JSON codec, whichever is installed by default: same output, and
input it cannot read (deep nesting included) is ``ValueError``."""
from __future__ import annotations

import pytest

from camservice.codec import CODEC, CODECS, codec


def _codec(name):
    try:
        return codec(name)
    except ImportError:
        pytest.skip(f"{name} is not installed")


@pytest.fixture(params=CODECS)
def each(request):
    return _codec(request.param)


def test_the_stdlib_codec_is_always_there():
    assert codec("json").name == "json"
    assert CODEC in CODECS


def test_compact_utf8(each):
    assert each.dumps({"a": [1, "é/x"]}) == '{"a":[1,"é/x"]}'.encode("utf-8")
    assert each.loads(b'{"a": [1, "\\u00e9"]}') == {"a": [1, "é"]}


@pytest.mark.parametrize("payload", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"[" * 5000,
    b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
], ids=["arrays", "objects", "unclosed", "inside-a-request"])
def test_deep_nesting_is_a_value_error(each, payload):
    with pytest.raises(ValueError):
        each.loads(payload)


@pytest.mark.parametrize("payload", [b"{", b"\xff", b"nan", b'{"a" 1}'])
def test_bad_json_is_a_value_error(each, payload):
    with pytest.raises(ValueError):
        each.loads(payload)
