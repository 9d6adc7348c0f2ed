"""The session table as clients meet it: list_sessions, terminate_session,
and open sessions ended by a revoked API key (``camservice-admin keys
revoke``), an expired API key and an expired JWT."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.roles import Role
from helpers.processes import run

ADMIN_CLI = str(Path(sys.executable).parent / "camservice-admin")


@pytest.fixture
def service_settings():
    return {"auth": {"leeway": 0, "session_check_interval": 0.2}, "server": {"auth_timeout": 0}}


def _ok(reply):
    assert "error" not in reply, reply
    return reply["result"]


async def _key_client(live, role="viewer", expires_in=None):
    store = ApiKeyStore(live.config.auth.api_keys_file, reactor)
    key, entry = store.add(Role.parse(role), name="test", expires_at=reactor.seconds() + expires_in if expires_in else None)
    client = await live.connect()
    _ok(await client.call("authenticate", {"auth_token": key}))
    return client, entry


@pytest_twisted.ensureDeferred
async def test_list_sessions_shows_who_is_connected(live):
    admin = await live.authed_client("admin", user="alice")
    viewer, entry = await _key_client(live)
    anonymous = await live.connect()
    listing = _ok(await admin.call("list_sessions"))
    assert listing["total"] == 3
    rows = {(r["user_id"], r["credential"]["kind"] if r["credential"] else None): r for r in listing["sessions"]}
    me = rows[("alice", "jwt")]
    assert me["current"] is True and me["role"] == "admin" and me["authenticated"] is True
    assert me["address"] == "127.0.0.1" and isinstance(me["port"], int) and me["tls"] is False
    assert me["since"].endswith("Z") and me["last_activity"].endswith("Z") and me["expires_at"].endswith("Z")
    assert me["credential"]["id"].startswith("sig:")
    key_row = rows[(f"key:{entry.id}", "api_key")]
    assert key_row["credential"] == {"kind": "api_key", "id": entry.id} and key_row["role"] == "viewer"
    assert key_row["current"] is False and key_row["expires_at"] is None
    anon = rows[(None, None)]
    assert anon["authenticated"] is False and anon["role"] is None
    # viewers may not list sessions
    denied = await viewer.call("list_sessions")
    assert denied["error"]["code"] == -32002
    for c in (admin, viewer, anonymous):
        await c.close()


@pytest_twisted.ensureDeferred
async def test_terminate_session_closes_that_client_with_4004(live, log_events):
    audit = log_events("camservice.audit")
    admin = await live.authed_client("admin")
    victim = await live.authed_client("operator", user="mallory")
    bystander = await live.authed_client("viewer", user="bob")
    listing = _ok(await admin.call("list_sessions"))
    target = next(r["session_id"] for r in listing["sessions"] if r["user_id"] == "mallory")
    result = _ok(await admin.call("terminate_session", {"session_id": target}))
    assert result == {"session_id": target, "terminated": True}
    code, _reason = await victim.closed
    assert code == 4004
    notice = await victim.notifications.get()
    assert notice["method"] == "session_ended"
    assert notice["params"]["session_id"] == target and notice["params"]["close_code"] == 4004
    ended = [e for e in audit if e.get("outcome") == "session_ended"]
    assert ended and ended[0]["session_id"] == target and ended[0]["by"] == "tester"
    # unknown now
    again = await admin.call("terminate_session", {"session_id": target})
    assert again["error"]["code"] == -32010 and again["error"]["data"]["resource"] == "session"
    assert _ok(await bystander.call("get_camera_list"))["total"] == 1
    # an admin may end its own session: the reply still arrives first
    mine = next(r["session_id"] for r in _ok(await admin.call("list_sessions"))["sessions"] if r["current"])
    assert _ok(await admin.call("terminate_session", {"session_id": mine}))["terminated"] is True
    assert (await admin.closed)[0] == 4004
    await bystander.close()


@pytest_twisted.ensureDeferred
async def test_revoked_api_key_ends_its_open_session(live):
    client, entry = await _key_client(live)
    other, _ = await _key_client(live)
    assert _ok(await client.call("get_camera_list"))["total"] == 1
    code, out, err = await run(reactor, [ADMIN_CLI, "--config", live.config.source, "keys", "revoke", entry.id])
    assert code == 0, err
    started = reactor.seconds()
    close_code, _reason = await client.closed
    assert close_code == 4003
    assert reactor.seconds() - started < 3
    notice = await client.notifications.get()
    assert notice["params"]["reason"] == "API key revoked"
    # the other key's session is untouched
    assert _ok(await other.call("get_camera_list"))["total"] == 1
    await other.close()


@pytest_twisted.ensureDeferred
async def test_expired_api_key_and_expired_jwt_end_their_sessions(live):
    keyed, _ = await _key_client(live, expires_in=1.5)
    jwt_client = await live.authed_client("viewer", ttl=2)
    lasting = await live.authed_client("viewer", ttl=3600)
    assert (await keyed.closed)[0] == 4002
    assert (await jwt_client.closed)[0] == 4002
    notice = await jwt_client.notifications.get()
    assert notice["method"] == "session_ended" and notice["params"]["reason"] == "credential expired"
    assert _ok(await lasting.call("get_camera_list"))["total"] == 1
    await lasting.close()
