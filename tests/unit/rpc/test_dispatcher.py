"""JSON-RPC parsing, envelope rules, every error code, params validation,
deprecation metadata, rate limiting and session expiry."""
from __future__ import annotations

import json

import pytest
from twisted.internet import defer
from twisted.logger import LogLevel, globalLogPublisher

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.roles import Role
from camservice.auth.tokens import TokenAuthority
from camservice.metrics import Metrics
from camservice.rpc.audit import Audit
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.errors import DependencyFailed, InvalidState, Unsupported
from camservice.rpc.methods import Deprecation, MethodSpec, MethodTable, object_schema
from camservice.rpc.ratelimit import TokenBucket
from camservice.rpc.session import Session
from helpers.harness import SECRET


@pytest.fixture
def events():
    captured = []
    globalLogPublisher.addObserver(captured.append)
    yield captured
    globalLogPublisher.removeObserver(captured.append)


# -- envelope ---------------------------------------------------------------

@pytest.mark.parametrize(
    "payload",
    [b"{", b"not json", b"\xff\xfe", b'{"jsonrpc": "2.0", "id": 1, "method": "ping"', b""],
)
def test_unparsable_is_parse_error_with_null_id(harness, payload):
    reply = harness.raw(harness.session(), payload)
    assert reply["id"] is None
    assert reply["error"]["code"] == -32700
    assert reply["error"]["message"] == "Parse error"
    assert reply["error"]["data"]["reason"]


def test_batch_is_one_invalid_request_with_null_id(harness):
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]
    reply = harness.raw(harness.session(), batch)
    assert reply["id"] is None
    assert reply["error"]["code"] == -32600
    assert reply["error"]["data"]["reason"] == "batch requests are not supported"


@pytest.mark.parametrize(
    "message, echoed_id",
    [
        (42, None),
        ("ping", None),
        ({"id": 3, "method": "ping"}, 3),  # no jsonrpc
        ({"jsonrpc": "1.0", "id": 3, "method": "ping"}, 3),
        ({"jsonrpc": "2.0", "id": 3}, 3),  # no method
        ({"jsonrpc": "2.0", "id": 3, "method": 7}, 3),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": [1], "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, None),
    ],
)
def test_invalid_requests(harness, message, echoed_id):
    reply = harness.raw(harness.session(), json.dumps(message))
    assert reply["error"]["code"] == -32600
    assert reply["id"] == echoed_id
    assert reply["error"]["data"]["hint"] and reply["error"]["data"]["reason"]


@pytest.mark.parametrize("msg_id", ["a-string", 0, 17, -3, 2**53, None, "", 1.5])
def test_ids_are_echoed_unchanged(harness, msg_id):
    reply = harness.call(harness.session(), "ping", msg_id=msg_id)
    assert reply["id"] == msg_id and type(reply["id"]) is type(msg_id)
    assert reply["result"] == "pong"
    assert reply["jsonrpc"] == "2.0"
    assert "error" not in reply


def test_notification_gets_no_reply_even_on_error(harness):
    session = harness.session()
    assert harness.raw(session, {"jsonrpc": "2.0", "method": "ping"}) is None
    assert harness.raw(session, {"jsonrpc": "2.0", "method": "nope"}) is None
    assert harness.raw(session, {"jsonrpc": "2.0", "method": "get_camera_list"}) is None


def test_notification_still_runs(harness):
    session = harness.session("viewer")
    harness.raw(session, {"jsonrpc": "2.0", "method": "subscribe_events", "params": {"topics": ["system.health"]}})
    assert session.topics == frozenset({"system.health"})


def test_unknown_method(harness):
    reply = harness.call(harness.session("admin"), "take_a_guess")
    assert reply["error"]["code"] == -32601
    assert reply["error"]["message"] == "Method not found"
    assert reply["error"]["data"]["method"] == "take_a_guess"
    assert reply["error"]["data"]["hint"]


def test_metadata_on_success_and_error(harness, clock):
    session = harness.session()
    ok = harness.call(session, "ping")
    err = harness.call(session, "nope")
    for reply in (ok, err):
        meta = reply["metadata"]
        assert meta["request_id"].startswith(session.conn_id + "-")
        assert meta["processing_time_ms"] >= 0
        assert meta["server_timestamp"] == "2023-11-14T22:13:20.000Z"
    assert ok["metadata"]["request_id"] != err["metadata"]["request_id"]


@pytest.mark.parametrize(
    "step, expected",
    [
        (0.0004, "2023-11-14T22:13:20.000Z"),  # the same millisecond: the same text
        (0.001, "2023-11-14T22:13:20.001Z"),
        (0.0999, "2023-11-14T22:13:20.099Z"),
        (0.999, "2023-11-14T22:13:20.999Z"),
        (1.0, "2023-11-14T22:13:21.000Z"),
        (61.5, "2023-11-14T22:14:21.500Z"),
    ],
)
def test_server_timestamp_follows_the_clock_to_the_millisecond(harness, clock, step, expected):
    session = harness.session()
    assert harness.call(session, "ping")["metadata"]["server_timestamp"] == "2023-11-14T22:13:20.000Z"
    clock.advance(step)
    assert harness.call(session, "ping")["metadata"]["server_timestamp"] == expected
    # the request ids stay per request, whatever the timestamp does
    ids = [harness.call(session, "ping")["metadata"]["request_id"] for _ in range(3)]
    assert len(set(ids)) == 3


# -- params -----------------------------------------------------------------

@pytest.mark.parametrize(
    "params, param, rule",
    [
        ({"device": "cam1"}, "device", "must match the pattern ^camera[0-9]+$"),
        ({"device": 7}, "device", "must be of type string"),
        ({}, "device", "is required"),
        ({"device": "camera1000", "color": "red"}, "color", "is unknown (allowed: debug, device)"),
        ({"device": "camera1000", "debug": "yes"}, "debug", "must be of type boolean"),
    ],
)
def test_params_validation(harness, params, param, rule):
    reply = harness.call(harness.session("admin"), "get_camera_status", params)
    error = reply["error"]
    assert error["code"] == -32602
    assert error["message"] == "Invalid params"
    assert error["data"]["param"] == param
    assert error["data"]["rule"] == rule
    assert error["data"]["hint"]


def test_params_must_be_an_object(harness):
    reply = harness.call(harness.session("admin"), "get_camera_status", ["camera1000"])
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["param"] == "params"


def test_unknown_params_rejected_on_parameterless_method(harness):
    reply = harness.call(harness.session("viewer"), "get_camera_list", {"limit": 5})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["param"] == "limit"


def test_null_params_are_no_params(harness):
    reply = harness.call(harness.session("viewer"), "get_camera_list", None)
    assert reply["result"]["total"] == 2


def test_unknown_topic_is_invalid_params(harness):
    reply = harness.call(harness.session("viewer"), "subscribe_events", {"topics": ["camera.exploded"]})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["param"] == "topics[0]"


# -- authentication, expiry, camera allow lists ----------------------------

def test_authenticate_then_session_expires_on_a_later_call(harness, clock):
    session = harness.session()
    auth = harness.call(session, "authenticate", {"auth_token": harness.token("operator", ttl=60)})
    assert auth["result"]["role"] == "operator"
    assert auth["result"]["permissions"] == ["view", "control"]
    # exp + the configured leeway (10 s): the moment calls stop being accepted
    assert auth["result"]["expires_at"] == "2023-11-14T22:14:30Z"
    assert "result" in harness.call(session, "get_camera_list")
    clock.advance(69.9)
    assert "result" in harness.call(session, "get_camera_list")
    clock.advance(0.2)
    reply = harness.call(session, "get_camera_list")
    assert reply["error"]["code"] == -32001
    assert reply["error"]["data"]["reason"] == "session expired"
    assert harness.call(session, "ping")["result"] == "pong"


def test_failed_authenticate_keeps_session_anonymous_and_is_audited(harness, events):
    session = harness.session()
    forged = harness.token("admin")[:-3] + "AAA"
    reply = harness.call(session, "authenticate", {"auth_token": forged})
    assert reply["error"]["code"] == -32001
    assert reply["error"]["data"]["reason"] == "token signature is invalid"
    assert session.principal is None
    audit = [e for e in events if e.get("audit")]
    assert audit[-1]["outcome"] == "failure"
    assert audit[-1]["log_namespace"] == "camservice.audit"
    logged = json.dumps({k: str(v) for k, v in audit[-1].items()})
    assert forged.split(".")[1] not in logged and forged[-20:] not in logged


def test_successful_authenticate_is_audited(harness, events):
    harness.call(harness.session(), "authenticate", {"auth_token": harness.token("viewer")})
    audit = [e for e in events if e.get("audit")]
    assert audit[-1]["outcome"] == "success"
    assert audit[-1]["role"] == "viewer"


def test_denial_is_audited(harness, events):
    harness.call(harness.session("viewer"), "get_metrics")
    audit = [e for e in events if e.get("audit")]
    assert audit[-1]["outcome"] == "denied"
    assert audit[-1]["required_role"] == "admin"
    assert audit[-1]["log_level"] == LogLevel.warn


def test_auth_token_param_works_on_any_call_without_logging_the_session_in(harness):
    session = harness.session()
    reply = harness.call(session, "get_camera_list", {"auth_token": harness.token("viewer")})
    assert reply["result"]["total"] == 2
    assert session.principal is None
    reply = harness.call(session, "get_status", {"auth_token": harness.token("viewer")})
    assert reply["error"]["code"] == -32002


def test_camera_allow_list(harness):
    session = harness.session("viewer", cameras=["camera1001"])
    listing = harness.call(session, "get_camera_list")["result"]
    assert [c["device"] for c in listing["cameras"]] == ["camera1001"]
    assert listing["total"] == 1
    denied = harness.call(session, "get_camera_capabilities", {"device": "camera1000"})
    assert denied["error"]["code"] == -32002
    assert denied["error"]["data"]["camera"] == "camera1000"
    allowed = harness.call(session, "get_camera_capabilities", {"device": "camera1001"})
    assert allowed["result"]["validation_status"] == "NONE"


def test_debug_output_is_for_admins_only(harness):
    reply = harness.call(harness.session("operator"), "get_camera_status", {"device": "camera1000", "debug": True})
    assert reply["error"]["code"] == -32002
    assert reply["error"]["data"]["required_role"] == "admin"
    plain = harness.call(harness.session("operator"), "get_camera_status", {"device": "camera1000"})
    assert "debug" not in plain["result"]
    assert "/dev/" not in json.dumps(plain)


# -- rate limiting ----------------------------------------------------------

def test_rate_limit_refuses_excess_with_retry_after(harness, clock):
    session = harness.session(rate=TokenBucket(rate=10, burst=3, clock=clock))
    for _ in range(3):
        assert harness.call(session, "ping")["result"] == "pong"
    refused = harness.call(session, "ping", msg_id="x")
    assert refused["id"] == "x"
    assert refused["error"]["code"] == -32040
    assert refused["error"]["data"]["retry_after_ms"] == 100
    clock.advance(0.09)
    assert harness.call(session, "ping")["error"]["code"] == -32040
    clock.advance(0.11)
    assert harness.call(session, "ping")["result"] == "pong"


def test_rate_limit_counts_garbage_too(harness, clock):
    session = harness.session(rate=TokenBucket(rate=1, burst=2, clock=clock))
    assert harness.raw(session, b"{")["error"]["code"] == -32700
    assert harness.raw(session, b"{")["error"]["code"] == -32700
    assert harness.raw(session, b"{")["error"]["code"] == -32040


# -- a dispatcher over a synthetic table ------------------------------------

class _Boom(Exception):
    pass


@pytest.fixture
def custom(clock, tmp_path):
    pending = defer.Deferred()

    def fails(call, params):
        raise _Boom("secret internals")

    def fails_later(call, params):
        return defer.fail(_Boom("later"))

    table = MethodTable(
        [
            MethodSpec("old_ping", lambda c, p: "pong", None,
                       deprecation=Deprecation("1.1", replacement="ping", sunset="2027-01-01"), version="1.0"),
            MethodSpec("fails", fails, None),
            MethodSpec("fails_later", fails_later, None),
            MethodSpec("slow", lambda c, p: pending, None),
            MethodSpec("unsupported", lambda c, p: (_ for _ in ()).throw(Unsupported(feature="x")), None),
            MethodSpec("busy", lambda c, p: defer.fail(InvalidState(state="recording", allowed_states=["idle"])), None),
            MethodSpec("needs", lambda c, p: (_ for _ in ()).throw(DependencyFailed(dependency="mediamtx", detail="down")), None),
            MethodSpec("echo", lambda c, p: p, Role.operator, object_schema({"n": {"type": "integer", "minimum": 1}}, ["n"])),
        ]
    )
    metrics = Metrics()
    authenticator = Authenticator(TokenAuthority(SECRET, clock), ApiKeyStore(tmp_path / "keys.json", clock))
    dispatcher = Dispatcher(table, authenticator, clock, metrics, Audit(metrics))
    return dispatcher, pending, metrics


def _handle(dispatcher, session, method, params=None, msg_id=1):
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    reply = dispatcher.handle(session, json.dumps(message))
    if isinstance(reply, defer.Deferred):
        if not reply.called:
            return reply
        out = []
        reply.addBoth(out.append)
        return json.loads(out[0])
    return json.loads(reply)


def test_deprecated_method_reports_and_logs(custom, clock, events):
    dispatcher, _, _ = custom
    session = Session(clock, lambda b: None)
    reply = _handle(dispatcher, session, "old_ping")
    assert reply["result"] == "pong"
    assert reply["metadata"]["deprecation"] == {
        "deprecated_since": "1.1",
        "replacement": "ping",
        "sunset": "2027-01-01",
    }
    warned = [e for e in events if e.get("method") == "old_ping" and e["log_level"] == LogLevel.warn]
    assert warned and warned[0]["replacement"] == "ping"
    again = _handle(dispatcher, session, "old_ping")
    assert again["metadata"]["deprecation"]["replacement"] == "ping"  # still reported to the caller
    warned = [e for e in events if e.get("method") == "old_ping" and e["log_level"] == LogLevel.warn]
    assert len(warned) == 1  # logged once per connection


def test_internal_error_hides_traceback_and_logs_it(custom, clock, events):
    dispatcher, _, _ = custom
    for method in ("fails", "fails_later"):
        reply = _handle(dispatcher, Session(clock, lambda b: None), method)
        error = reply["error"]
        assert error["code"] == -32603
        assert error["message"] == "Internal error"
        assert error["data"]["request_id"] == reply["metadata"]["request_id"]
        assert "secret internals" not in json.dumps(reply) and "Traceback" not in json.dumps(reply)
        logged = [e for e in events if e.get("log_failure") is not None and e.get("method") == method]
        assert logged and logged[0]["request_id"] == error["data"]["request_id"]
        logged[0]["log_failure"].trap(_Boom)


def test_service_errors_carry_their_code_and_data(custom, clock):
    dispatcher, _, _ = custom
    session = Session(clock, lambda b: None)
    assert _handle(dispatcher, session, "unsupported")["error"] == {
        "code": -32030, "message": "Unsupported", "data": {"feature": "x"}}
    assert _handle(dispatcher, session, "busy")["error"] == {
        "code": -32020, "message": "Invalid state", "data": {"state": "recording", "allowed_states": ["idle"]}}
    assert _handle(dispatcher, session, "needs")["error"]["code"] == -32050


def test_deferred_result_is_answered_when_it_fires(custom, clock):
    dispatcher, pending, _ = custom
    reply = _handle(dispatcher, Session(clock, lambda b: None), "slow", msg_id="s")
    assert isinstance(reply, defer.Deferred) and not reply.called
    pending.callback({"done": True})
    out = []
    reply.addCallback(out.append)
    assert json.loads(out[0])["result"] == {"done": True}


def test_metrics_count_by_method_and_code(custom, clock):
    dispatcher, _, metrics = custom
    session = Session(clock, lambda b: None)
    _handle(dispatcher, session, "old_ping")
    _handle(dispatcher, session, "echo", {"n": 1})
    _handle(dispatcher, session, "nope")
    value = metrics.registry.get_sample_value
    assert value("camservice_rpc_requests_total", {"method": "old_ping", "code": "0"}) == 1
    assert value("camservice_rpc_requests_total", {"method": "echo", "code": "-32001"}) == 1
    assert value("camservice_rpc_requests_total", {"method": "(unknown)", "code": "-32601"}) == 1
    assert value("camservice_auth_failures_total", {"kind": "authentication"}) == 1
