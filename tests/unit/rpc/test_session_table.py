"""The session table on a Clock: rows for list_sessions, termination, and
the periodic check that ends sessions whose credential expired or was
revoked."""
from __future__ import annotations

import pytest

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.rpc.session import Session
from camservice.rpc.sessions import (
    CLOSE_CREDENTIAL_EXPIRED,
    CLOSE_CREDENTIAL_REVOKED,
    CLOSE_TERMINATED,
    SessionTable,
)

ADMIN = Principal("root", Role.admin, None)


@pytest.fixture
def store(tmp_path, clock):
    return ApiKeyStore(tmp_path / "keys.json", clock)


@pytest.fixture
def table(clock, store):
    t = SessionTable(clock, store, interval=1.0)
    yield t
    t.stop()


def _session(clock, table, ended, principal=None, peer="tcp:127.0.0.1:4000"):
    session = Session(clock, lambda payload: None, peer=peer)
    if principal is not None:
        session.log_in(principal)
    table.add(session, lambda s, code, reason: ended.append((s.session_id, code, reason)))
    return session


def test_rows_describe_caller_address_times_and_credential(clock, table):
    ended = []
    principal = Principal("alice", Role.operator, clock.seconds() + 60, method="jwt", credential_id="jti:abc")
    session = _session(clock, table, ended, principal, peer="tcp6:[::1]:5000")
    anonymous = _session(clock, table, ended)
    clock.advance(5)
    session.last_activity = clock.seconds()
    rows = [table.describe(s) for s in table.sessions()]
    assert rows[0] == {
        "session_id": session.session_id,
        "conn_id": session.conn_id,
        "address": "::1",
        "port": 5000,
        "tls": False,
        "since": "2023-11-14T22:13:20Z",
        "last_activity": "2023-11-14T22:13:25Z",
        "authenticated": True,
        "user_id": "alice",
        "role": "operator",
        "credential": {"kind": "jwt", "id": "jti:abc"},
        "expires_at": "2023-11-14T22:14:20Z",
    }
    assert rows[1]["session_id"] == anonymous.session_id and rows[1]["authenticated"] is False
    assert rows[1]["credential"] is None


def test_expired_credential_ends_the_session_at_the_next_check(clock, table):
    ended = []
    session = _session(clock, table, ended, Principal("bob", Role.viewer, clock.seconds() + 2.5))
    lasting = _session(clock, table, ended, Principal("carol", Role.viewer, None))
    table.start()
    clock.advance(2)
    assert ended == []
    clock.advance(1)
    assert ended == [(session.session_id, CLOSE_CREDENTIAL_EXPIRED, "credential expired")]
    assert table.get(session.session_id) is None and table.get(lasting.session_id) is lasting


def test_session_seen_expired_by_a_call_is_ended_too(clock, table):
    ended = []
    session = _session(clock, table, ended, Principal("bob", Role.viewer, clock.seconds() + 1))
    clock.advance(1)
    assert session.current_principal() is None  # a call noticed it first
    assert table.check() == 1
    assert ended[0][1] == CLOSE_CREDENTIAL_EXPIRED


def test_revoked_api_key_ends_only_its_sessions(clock, table, store):
    key, entry = store.add(Role.viewer)
    kept_key, kept = store.add(Role.viewer)
    ended = []
    revoked = _session(clock, table, ended, store.verify(key))
    other = _session(clock, table, ended, store.verify(kept_key))
    assert table.check() == 0
    # revoke through another store, as camservice-admin does: the file changes
    assert ApiKeyStore(store.path, clock).revoke(entry.id)
    assert table.check() == 1
    assert ended == [(revoked.session_id, CLOSE_CREDENTIAL_REVOKED, "API key revoked")]
    assert table.get(other.session_id) is other


def test_unreadable_keys_file_ends_no_session(clock, table, store, log_events):
    key, _ = store.add(Role.viewer)
    ended = []
    _session(clock, table, ended, store.verify(key))
    errors = log_events("camservice.rpc.sessions")
    store.path.write_text("{not json")
    assert table.check() == 0
    assert ended == []
    assert errors and errors[0]["log_format"].startswith("cannot check API keys")


def test_terminate_ends_a_session_and_audits_who(clock, table, log_events):
    audit = log_events("camservice.audit")
    ended = []
    session = _session(clock, table, ended, Principal("eve", Role.operator, None))
    assert table.terminate(session.session_id, ADMIN)
    assert ended == [(session.session_id, CLOSE_TERMINATED, "terminated by an administrator")]
    assert audit[0]["outcome"] == "session_ended" and audit[0]["by"] == "root"
    assert audit[0]["user_id"] == "eve" and audit[0]["audit"] is True
    assert not table.terminate(session.session_id, ADMIN)


def test_terminating_ones_own_session_waits_a_turn(clock, table):
    ended = []
    session = _session(clock, table, ended, ADMIN)
    assert table.terminate(session.session_id, ADMIN, later=True)
    assert ended == []
    clock.advance(0)
    assert ended[0][1] == CLOSE_TERMINATED


def test_stop_leaves_no_pending_checks(clock, table):
    table.start()
    table.start()
    assert len(clock.getDelayedCalls()) == 1
    table.stop()
    assert clock.getDelayedCalls() == []
