"""Audit events: one per authentication, denial and state change, with
who, from where, what and outcome; repeated failures summarised."""
from __future__ import annotations

import pytest

from camservice.metrics import Metrics
from camservice.rpc.audit import Audit, client_address
from camservice.rpc.session import Session

AUDITED = {
    "start_streaming": ("device",),
    "stop_streaming": ("device",),
    "start_recording": ("device", "duration", "format"),
    "stop_recording": ("device",),
    "add_external_stream": ("stream_url", "stream_name", "stream_type"),
    "remove_external_stream": ("stream_url",),
    "set_camera_control": ("device", "name", "value"),
    "set_discovery_interval": ("scan_interval",),
    "discover_external_streams": (),
    "reload_config": (),
    "take_snapshot": ("device", "filename"),
    "delete_recording": ("filename",),
    "delete_snapshot": ("filename",),
    "set_retention_policy": ("policy_type", "enabled", "max_age_days", "max_size_gb"),
    "cleanup_old_files": (),
}


def _audit(events):
    return [e for e in events if e.get("audit")]


def test_every_state_changing_method_declares_its_audit(harness):
    declared = {spec.name: spec.audit for spec in harness.dispatcher.table if spec.audit is not None}
    assert declared == AUDITED


def test_a_state_change_is_one_event_with_who_where_what_outcome(harness, log_events):
    events = log_events("camservice.audit")
    admin = harness.session("admin")
    assert harness.call(admin, "set_discovery_interval", {"scan_interval": 0})["result"]["scan_interval"] == 0
    (event,) = _audit(events)
    assert {k: event[k] for k in ("who", "peer", "what", "outcome", "params", "conn_id")} == {
        "who": "tester", "peer": "tcp:127.0.0.1:1", "what": "set_discovery_interval", "outcome": "success",
        "params": {"scan_interval": 0}, "conn_id": admin.conn_id,
    }
    assert event["log_namespace"] == "camservice.audit"


def test_a_failed_state_change_is_audited_with_its_code(harness, log_events):
    events = log_events("camservice.audit")
    reply = harness.call(harness.session("operator"), "add_external_stream",
                         {"stream_url": "rtsp://u:Secr3t@192.0.2.1/x%zz", "stream_name": "x"})
    assert reply["error"]["code"] == -32602
    (event,) = _audit(events)
    assert (event["what"], event["outcome"], event["code"]) == ("add_external_stream", "error", -32602)
    assert event["params"] == {"stream_url": "rtsp://***@192.0.2.1/x%zz", "stream_name": "x"}
    assert event["reason"].startswith("stream_url has an invalid percent escape")


def test_a_denial_is_audited_once_not_as_a_state_change(harness, log_events):
    events = log_events("camservice.audit")
    reply = harness.call(harness.session("viewer"), "set_discovery_interval", {"scan_interval": 5})
    assert reply["error"]["code"] == -32002
    (event,) = _audit(events)
    assert (event["outcome"], event["what"], event["who"]) == ("denied", "set_discovery_interval", "tester")


def test_per_call_tokens_are_audited(harness, log_events):
    events = log_events("camservice.audit")
    session = harness.session()
    assert "result" in harness.call(session, "get_camera_list", {"auth_token": harness.token("viewer")})
    (event,) = _audit(events)
    assert (event["outcome"], event["what"], event["who"], event["auth_method"]) == (
        "success", "get_camera_list", "tester", "jwt")


def test_repeated_failures_from_one_client_are_summarised(harness, clock, log_events):
    events = log_events("camservice.audit")
    for port in range(1, 51):  # a new connection each time: still one client
        session = Session(clock, lambda b: None, peer=f"tcp:10.0.0.7:{port}")
        harness.call(session, "authenticate", {"auth_token": "x" * 40})
    other = Session(clock, lambda b: None, peer="tcp:10.0.0.8:1")
    harness.call(other, "authenticate", {"auth_token": "x" * 40})
    logged = _audit(events)
    assert [(e["peer"], e.get("summary", False)) for e in logged] == [("tcp:10.0.0.7:1", False), ("tcp:10.0.0.8:1", False)]
    clock.advance(59.9)
    assert len(_audit(events)) == 2
    clock.advance(0.2)
    summary = _audit(events)[-1]
    assert (summary["summary"], summary["count"], summary["outcome"], summary["peer"], summary["what"]) == (
        True, 49, "failure", "10.0.0.7", "authenticate")
    # the next interval starts with a full event again
    harness.call(Session(clock, lambda b: None, peer="tcp:10.0.0.7:99"), "authenticate", {"auth_token": "x" * 40})
    assert _audit(events)[-1]["peer"] == "tcp:10.0.0.7:99" and not _audit(events)[-1].get("summary")


def test_stopping_writes_the_pending_summaries(clock, log_events):
    events = log_events("camservice.audit")
    audit = Audit(Metrics(), clock, interval=60)
    session = Session(clock, lambda b: None, peer="tcp:10.0.0.7:1")
    for _ in range(3):
        audit.failure(session, "c1-1", "authenticate", "unknown API key")
    assert len(clock.getDelayedCalls()) == 1
    audit.stopService()
    assert clock.getDelayedCalls() == []
    assert [e.get("count") for e in _audit(events)] == [None, 2]


def test_without_a_clock_every_event_is_logged(clock, log_events):
    events = log_events("camservice.audit")
    audit = Audit(Metrics())
    session = Session(clock, lambda b: None, peer="tcp:10.0.0.7:1")
    for _ in range(3):
        audit.failure(session, "c1-1", "authenticate", "unknown API key")
    assert len(_audit(events)) == 3


@pytest.mark.parametrize("peer, address", [
    ("tcp:127.0.0.1:5000", "127.0.0.1"), ("tcp6:::1:5000", "::1"), ("unix:/run/x", "unix:/run/x"), ("", ""),
])
def test_client_address(peer, address):
    assert client_address(peer) == address
