"""JSON-RPC over MQTT on the real dispatcher (the unit harness): the
credential in a user property or in params, the WebSocket's results and
errors, the correlation data echoed, requests without a response topic,
or with one outside the node's ``rpc/response/``, not executed."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from camservice.config.model import RateLimitConfig
from camservice.mqtt.rpc import MqttRpc, _with_token, credential_from, response_topic_problem

BASE = "camservice/n1/rpc/response/"


def props(response_topic=BASE + "alice/1", correlation=b"id-1", **user):
    return SimpleNamespace(ResponseTopic=response_topic, CorrelationData=correlation,
                           UserProperty=list(user.items()) or None)


@pytest.fixture
def rpc(harness):
    replies = []
    r = MqttRpc(harness.dispatcher, harness.clock, RateLimitConfig(0, 10), lambda *a: replies.append(a),
                max_message_size=4096, response_base=BASE)
    r.replies = replies
    return r


def request(method, params=None, msg_id=1):
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}}).encode()


def answer(rpc):
    topic, payload, correlation = rpc.replies[-1]
    return topic, json.loads(payload), correlation


@pytest.mark.parametrize("user, found", [
    ({"authorization": "Bearer abc.def"}, "abc.def"),
    ({"Authorization": "bearer   k123 "}, "k123"),
    ({"x-api-key": "key-1"}, "key-1"),
    ({"authorization": "Basic xyz"}, None),
    ({}, None),
])
def test_credentials_from_user_properties(user, found):
    assert credential_from(props(**user)) == found


def test_a_user_property_credential_becomes_the_calls_auth_token_unless_params_have_one():
    assert json.loads(_with_token(request("ping"), "T"))["params"] == {"auth_token": "T"}
    own = request("ping", {"auth_token": "mine"})
    assert _with_token(own, "T") == own
    assert _with_token(b"not json", "T") == b"not json"
    assert _with_token(b"[1]", "T") == b"[1]"


def test_an_answer_goes_to_the_response_topic_with_the_correlation_data(harness, rpc):
    rpc.handle(request("get_camera_list"), props(authorization=f"Bearer {harness.token('viewer')}"))
    topic, reply, correlation = answer(rpc)
    assert (topic, correlation) == (BASE + "alice/1", b"id-1")
    session = harness.session("viewer")
    assert reply["result"] == harness.call(session, "get_camera_list")["result"]


def test_a_viewer_gets_the_websockets_permission_error(harness, rpc):
    token = harness.token("viewer")
    rpc.handle(request("start_recording", {"device": "camera1000"}), props(authorization=f"Bearer {token}"))
    _, reply, _ = answer(rpc)
    ws = harness.call(harness.session(), "start_recording", {"device": "camera1000", "auth_token": token})
    assert reply["error"] == ws["error"] and reply["error"]["code"] == -32002


def test_the_camera_allow_list_applies(harness, rpc):
    token = harness.token("operator", cameras=["camera1001"])
    rpc.handle(request("get_camera_status", {"device": "camera1000"}), props(**{"x-api-key": token}))
    assert answer(rpc)[1]["error"]["code"] == -32002


def test_no_credential_is_an_authentication_error_and_ping_needs_none(rpc):
    rpc.handle(request("get_camera_list"), props())
    assert answer(rpc)[1]["error"]["code"] == -32001
    rpc.handle(request("ping"), props())
    assert answer(rpc)[1]["result"] == "pong"


def test_without_a_response_topic_nothing_runs_and_nothing_is_answered(harness, rpc):
    token = harness.token("operator")
    assert rpc.handle(request("start_recording", {"device": "camera1000", "auth_token": token}),
                      props(response_topic=None)) is None
    assert rpc.handle(request("ping"), None) is None
    assert rpc.handle(request("ping"), props(response_topic="a/+/b")) is None
    assert rpc.replies == []
    assert harness.tree.getServiceNamed("recordings").recording() == {}


def test_a_notification_is_run_but_not_answered(rpc):
    rpc.handle(json.dumps({"jsonrpc": "2.0", "method": "ping"}).encode(), props())
    assert rpc.replies == []


def test_bad_json_and_too_large_requests_get_the_websockets_errors(rpc):
    rpc.handle(b"{nope", props())
    assert answer(rpc)[1]["error"]["code"] == -32700
    rpc.handle(b" " * 5000, props())
    assert answer(rpc)[1]["error"]["code"] == -32600


def test_the_rate_limit_is_per_credential(harness):
    replies = []
    rpc = MqttRpc(harness.dispatcher, harness.clock, RateLimitConfig(1, 2), lambda *a: replies.append(a),
                  response_base=BASE)
    a, b = harness.token("viewer"), harness.token("admin")
    for _ in range(3):
        rpc.handle(request("get_camera_list"), props(authorization=f"Bearer {a}"))
    rpc.handle(request("get_camera_list"), props(authorization=f"Bearer {b}"))
    codes = [json.loads(p).get("error", {}).get("code") for _, p, _ in replies]
    assert codes == [None, None, -32040, None]


@pytest.mark.parametrize("topic, problem", [
    (BASE + "alice/1", None),
    (BASE + "x", None),
    (None, "no response topic"),
    ("", "no response topic"),
    ("camservice/n1/cameras/camera1000/state", "must be under"),
    ("homeassistant/switch/n1/camera1000_recording/config", "must be under"),
    ("camservice/n2/rpc/response/alice/1", "must be under"),
    ("camservice/n1/rpc", "must be under"),
    ("camservice/n1/rpc/response", "must be under"),
    (BASE, "must be under"),
    (BASE + "/", "must be under"),
    ("camservice/n1/rpc/responses/x", "must be under"),
    (BASE + "a/+/b", "wildcards"),
    (BASE + "#", "wildcards"),
    (BASE + "a\x00b", "NUL"),
])
def test_response_topics_must_be_under_the_nodes_rpc_response(topic, problem):
    found = response_topic_problem(topic, BASE)
    assert (found is None) if problem is None else (problem in found), found


def test_a_request_answering_elsewhere_is_refused_logged_and_not_run(harness, rpc, log_events):
    events = log_events("camservice.mqtt")
    outcomes = []
    rpc._counted = outcomes.append
    token = harness.token("operator")
    for topic in ("camservice/n1/cameras/camera1000/state", "homeassistant/camera/n1/camera1000_camera/config",
                  "camservice/n2/rpc/response/x"):
        assert rpc.handle(request("start_recording", {"device": "camera1000", "auth_token": token}),
                          props(response_topic=topic)) is None
    assert rpc.replies == []
    assert harness.tree.getServiceNamed("recordings").recording() == {}
    assert outcomes == ["bad_response_topic"] * 3
    refused = [e for e in events if "refused" in e.get("log_format", "")]
    assert [e["response_topic"] for e in refused] == ["camservice/n1/cameras/camera1000/state",
                                                      "homeassistant/camera/n1/camera1000_camera/config",
                                                      "camservice/n2/rpc/response/x"]
    assert all(e["log_level"].name == "warn" and "must be under " + BASE in e["problem"] for e in refused)


def test_without_a_session_every_request_is_refused(harness):
    replies = []
    rpc = MqttRpc(harness.dispatcher, harness.clock, RateLimitConfig(0, 10), lambda *a: replies.append(a))
    assert rpc.handle(request("ping"), props()) is None
    assert replies == []
