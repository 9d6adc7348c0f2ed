"""Hostile input through the real wiring: each case gets its exact error,
costs little, logs no traceback, and leaves other clients answered."""
from __future__ import annotations

import json

import pytest

from camservice.codec import CODECS, codec
from camservice.events import TOPICS
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.param_limits import MAX_DEPTH, MAX_ITEMS, MAX_NODES


def _still_answered(harness) -> None:
    """Another client is served as usual."""
    other = harness.session("viewer")
    assert harness.call(other, "ping")["result"] == "pong"
    assert "cameras" in harness.call(other, "get_camera_list", {})["result"]


def _no_failures(events) -> None:
    assert not [e for e in events if e.get("log_failure") is not None or e.get("log_level").name == "critical"]


# -- envelope ---------------------------------------------------------------

@pytest.mark.parametrize("message, reason", [
    ({"jsonrpc": "2.0"}, "missing or invalid method"),
    ({"jsonrpc": None, "method": "x"}, "not JSON-RPC 2.0"),
    ({"method": 1}, "not JSON-RPC 2.0"),
    ({"jsonrpc": "2.0", "method": 1, "params": "bar"}, "missing or invalid method"),
    ({"jsonrpc": "1.0", "method": "ping"}, "not JSON-RPC 2.0"),
    ({}, "not JSON-RPC 2.0"),
])
def test_an_invalid_request_without_id_is_answered_with_null_id(harness, message, reason):
    reply = harness.raw(harness.session(), message)
    assert reply["id"] is None
    assert reply["error"]["code"] == -32600 and reply["error"]["message"] == "Invalid Request"
    assert reply["error"]["data"]["reason"] == reason
    _still_answered(harness)


def test_only_a_valid_request_without_id_is_a_notification(harness):
    session = harness.session()
    assert harness.raw(session, {"jsonrpc": "2.0", "method": "ping"}) is None
    assert harness.raw(session, {"jsonrpc": "2.0", "method": "no_such_method"}) is None


# -- deep nesting: -32700 with every codec ---------------------------------

@pytest.fixture(params=CODECS)
def codec_dispatcher(request, harness):
    try:
        chosen = codec(request.param)
    except ImportError:
        pytest.skip(f"{request.param} is not installed")
    d = harness.dispatcher
    return Dispatcher(d.table, d._authenticator, harness.clock, d._metrics, d._audit, codec=chosen)


@pytest.mark.parametrize("payload", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
], ids=["array", "in-params", "objects"])
def test_deep_nesting_is_a_parse_error_with_every_codec(harness, codec_dispatcher, log_events, payload):
    events = log_events("")
    session = harness.session("viewer")
    reply = json.loads(codec_dispatcher.handle(session, payload))
    assert reply["id"] is None
    assert reply["error"] == {"code": -32700, "message": "Parse error",
                              "data": {"reason": "the message is not valid JSON"}}
    again = json.loads(codec_dispatcher.handle(session, b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'))
    assert again["result"] == "pong"
    _no_failures(events)
    _still_answered(harness)


def test_nesting_the_codec_can_read_is_refused_by_the_params_limits(harness):
    nested = 1
    for _ in range(MAX_DEPTH + 2):
        nested = [nested]
    reply = harness.call(harness.session("viewer"), "subscribe_events", {"topics": nested})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["rule"] == f"must not nest deeper than {MAX_DEPTH} levels"


# -- big params --------------------------------------------------------------

def _sized(payload: dict) -> str:
    text = json.dumps(payload)
    assert 60_000 < len(text) <= 65_536, len(text)  # fits server.max_message_size
    return text


def test_a_64k_array_of_bad_topics_is_refused_on_its_size(harness):
    message = {"jsonrpc": "2.0", "id": 9, "method": "subscribe_events",
               "params": {"topics": ["x"] * 13_000}}
    reply = harness.raw(harness.session("viewer"), _sized(message))
    assert reply["id"] == 9
    assert reply["error"] == {
        "code": -32602, "message": "Invalid params",
        "data": {"param": "topics", "rule": f"must have at most {len(TOPICS)} items",
                 "reason": f"topics must have at most {len(TOPICS)} items",
                 "hint": "check the 'topics' param of subscribe_events"},
    }
    _still_answered(harness)


def test_a_64k_array_in_an_unknown_param_is_refused_on_its_size(harness):
    message = {"jsonrpc": "2.0", "id": 9, "method": "get_camera_list", "params": {"junk": [0] * 21_000}}
    reply = harness.raw(harness.session("viewer"), _sized(message))
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["param"] == "junk"
    assert reply["error"]["data"]["rule"] == f"must have at most {MAX_ITEMS} items"


def test_many_small_values_are_refused_on_their_count(harness):
    params = {f"k{i}": [0] * 100 for i in range(20)}
    reply = harness.call(harness.session("viewer"), "get_camera_list", params)
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"] == {
        "param": "params", "rule": f"must hold at most {MAX_NODES} values in all",
        "reason": f"params must hold at most {MAX_NODES} values in all",
        "hint": "check the 'params' param of get_camera_list",
    }


def test_validation_stops_at_the_first_error(harness):
    """Within the size limits, only the first schema error is built."""
    spec = harness.dispatcher.table.get("subscribe_events")
    built = []
    original = spec.validator

    class Counting:
        def iter_errors(self, instance):
            for error in original.iter_errors(instance):
                built.append(error)
                yield error

    object.__setattr__(spec, "validator", Counting())
    try:
        reply = harness.call(harness.session("viewer"), "subscribe_events", {"topics": ["bad1", "bad2", "bad3"]})
    finally:
        object.__setattr__(spec, "validator", original)
    assert reply["error"]["data"]["param"] == "topics[0]"
    assert reply["error"]["data"]["rule"].startswith("must be one of: ")
    assert len(built) == 1


# -- patterns matched whole --------------------------------------------------

@pytest.mark.parametrize("device", ["camera1000\n", "camera1000\r\n", "\ncamera1000", "camera1000 "])
def test_camera_ids_with_a_newline_are_refused(harness, device):
    reply = harness.call(harness.session("viewer"), "get_camera_status", {"device": device})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["param"] == "device"
    assert reply["error"]["data"]["rule"] == "must match the pattern ^camera[0-9]+$"
    _still_answered(harness)


def test_control_names_with_a_newline_are_refused(harness):
    reply = harness.call(harness.session("operator"), "set_camera_control",
                         {"device": "camera1000", "name": "brightness\n", "value": 1})
    assert reply["error"]["code"] == -32602 and reply["error"]["data"]["param"] == "name"


# -- stream URLs ---------------------------------------------------------------

@pytest.mark.parametrize("url, rule, hint", [
    ("rtsp://192.0.2.10:554/stream1\n", "must not contain whitespace, control or non-ASCII characters",
     "percent-encode such characters (%20 for a space) and remove line breaks"),
    ("rtsp://192.0.2.10:554/%zz", "has an invalid percent escape (a % must be followed by two hex digits)",
     "write a literal % as %25"),
    ("rtsp://192.0.2.10:70000/x", "must have a port from 1 to 65535", "e.g. rtsp://192.0.2.10:554/stream1"),
    ("rtsp://127.0.0.1:554/x",
     "must not point at this machine or a loopback, link-local, unspecified or multicast address",
     "if this is intended, add it to external_streams.allowed_targets in the configuration"),
])
def test_bad_stream_urls_are_refused_naming_the_rule(harness, url, rule, hint):
    reply = harness.call(harness.session("operator"), "add_external_stream", {"stream_url": url, "stream_name": "x"})
    assert reply["error"] == {"code": -32602, "message": "Invalid params",
                              "data": {"param": "stream_url", "rule": rule, "reason": f"stream_url {rule}",
                                       "hint": hint}}
    assert harness.call(harness.session("viewer"), "get_external_streams")["result"]["total_count"] == 0
    assert not (harness.config.data_dir / "external-streams.json").exists()
    _still_answered(harness)
