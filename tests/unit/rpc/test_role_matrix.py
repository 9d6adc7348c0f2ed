"""Every method × every role, generated from the method table."""
from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from camservice.config import load_config
from helpers.harness import make_harness

#: API.md's role table: the contract clients rely on.
API_ROLES = {
    "ping": None,
    "authenticate": None,
    "get_camera_list": "viewer",
    "get_camera_status": "viewer",
    "get_camera_capabilities": "viewer",
    "list_recordings": "viewer",
    "list_snapshots": "viewer",
    "get_recording_info": "viewer",
    "get_snapshot_info": "viewer",
    "get_stream_url": "viewer",
    "get_stream_status": "viewer",
    "get_streams": "viewer",
    "get_system_status": "viewer",
    "get_server_info": "viewer",
    "subscribe_events": "viewer",
    "unsubscribe_events": "viewer",
    "get_subscription_stats": "viewer",
    "get_external_streams": "viewer",
    "take_snapshot": "operator",
    "start_recording": "operator",
    "stop_recording": "operator",
    "start_streaming": "operator",
    "stop_streaming": "operator",
    "discover_external_streams": "operator",
    "add_external_stream": "operator",
    "remove_external_stream": "operator",
    "delete_recording": "admin",
    "delete_snapshot": "admin",
    "get_metrics": "admin",
    "get_status": "admin",
    "get_storage_info": "admin",
    "set_retention_policy": "admin",
    "cleanup_old_files": "admin",
    "set_discovery_interval": "admin",
}
RANK = {None: 0, "viewer": 1, "operator": 2, "admin": 3}


def _table():
    clock = Clock()
    clock.advance(1_700_000_000)
    config = load_config(environ={}, euid=1000)
    harness = make_harness(config, clock)
    harness.stop()
    return harness.dispatcher.table


TABLE = _table()
METHODS = [spec.name for spec in TABLE]


def test_roles_match_the_api_contract():
    for spec in TABLE:
        if spec.name in API_ROLES:
            declared = spec.role.name if spec.role is not None else None
            assert declared == API_ROLES[spec.name], spec.name
            assert spec.version == "1.0", spec.name
        else:
            assert spec.version != "1.0", f"{spec.name} is an extension and must say since when"


def test_every_registered_method_has_an_example_that_validates():
    for spec in TABLE:
        assert spec.validator.is_valid(dict(spec.example)), spec.name


@pytest.mark.parametrize("role", [None, "viewer", "operator", "admin"])
@pytest.mark.parametrize("method", METHODS)
def test_role_matrix(harness, method, role):
    spec = harness.dispatcher.table.get(method)
    required = spec.role.name if spec.role is not None else None
    session = harness.session(role)
    params = dict(spec.example)
    if method == "authenticate":
        params = {"auth_token": harness.token("viewer")}
    reply = harness.call(session, method, params)
    error = reply.get("error")
    if required is not None and role is None:
        assert error["code"] == -32001, reply
    elif RANK[role] < RANK[required]:
        assert error["code"] == -32002, reply
        assert error["data"]["required_role"] == required
        assert error["data"]["have_role"] == role
    else:
        # past the role gate: success, or a domain error of the call itself
        assert error is None or error["code"] not in (-32001, -32002), reply
