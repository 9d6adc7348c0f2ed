"""camservice.auth.apikeys.ApiKeyStore: salted hashes on disk, Clock-driven
expiry, revocation, import, sharing the file between processes, corruption."""
from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from camservice.auth.apikeys import MIN_KEY_LENGTH, ApiKeyStore
from camservice.auth.errors import AuthenticationError
from camservice.auth.principal import Principal
from camservice.auth.roles import Role

NOW_ISO = "2023-11-14T22:13:20Z"  # the clock fixture's NOW


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state" / "api-keys.json"


@pytest.fixture
def store(path, clock):
    return ApiKeyStore(path, clock)


def refused(store, key) -> str:
    with pytest.raises(AuthenticationError) as info:
        store.verify(key)
    return info.value.reason


def test_add_returns_a_long_key_and_stores_only_salt_and_hash(store, path):
    key, entry = store.add(Role.operator, "ci runner")
    assert len(key) >= 32
    text = path.read_text()
    assert key not in text
    assert key[4:] not in text  # nor its random part
    document = json.loads(text)
    assert document["version"] == 1
    (stored,) = document["keys"]
    assert set(stored) == {"id", "name", "role", "salt", "hash", "created_at", "expires_at", "cameras"}
    assert stored["id"] == entry.id
    assert stored["name"] == "ci runner"
    assert stored["role"] == "operator"
    assert stored["created_at"] == NOW_ISO
    assert stored["expires_at"] is None
    assert stored["cameras"] is None
    # the hash is SHA-256 of salt + key, with a per-key salt
    salt = bytes.fromhex(stored["salt"])
    assert len(salt) == 16
    assert stored["hash"] == hashlib.sha256(salt + key.encode()).hexdigest()


def test_keys_file_is_owner_only(store, path):
    store.add(Role.viewer)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_every_key_salt_and_id_is_different(store):
    added = [store.add(Role.viewer) for _ in range(5)]
    assert len({key for key, _ in added}) == 5
    assert len({entry.id for _, entry in added}) == 5
    assert len({entry.salt for _, entry in added}) == 5
    assert [k.id for k in store.keys()] == [entry.id for _, entry in added]


def test_verify_gives_the_principal(store):
    key, entry = store.add(Role.operator, "cams", cameras=["camera1001", "camera1000"])
    assert store.verify(key) == Principal(
        user_id="key:" + entry.id,
        role=Role.operator,
        expires_at=None,
        cameras=frozenset({"camera1000", "camera1001"}),
        method="api_key",
        key_id=entry.id,
    )
    assert entry.cameras == ("camera1000", "camera1001")


def test_verify_picks_the_matching_key_among_many(store):
    keys = {role: store.add(role) for role in Role}
    for role, (key, entry) in keys.items():
        principal = store.verify(key)
        assert (principal.role, principal.key_id) == (role, entry.id)
        assert principal.cameras is None


def test_wrong_key_is_refused(store):
    key, _ = store.add(Role.admin)
    assert refused(store, key[:-1] + ("A" if key[-1] != "A" else "B")) == "unknown API key"
    assert refused(store, key + "x") == "unknown API key"
    assert refused(store, "csk_" + "0" * 43) == "unknown API key"


def test_short_key_is_refused_even_if_its_hash_is_stored(store, path):
    # the length check does not rely on such keys never being stored
    short = "x" * (MIN_KEY_LENGTH - 1)
    salt = bytes(16)
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "keys": [
                    {
                        "id": "key_short",
                        "name": "",
                        "role": "admin",
                        "salt": salt.hex(),
                        "hash": hashlib.sha256(salt + short.encode()).hexdigest(),
                        "created_at": NOW_ISO,
                    }
                ],
            }
        )
    )
    assert [k.id for k in store.keys()] == ["key_short"]
    assert refused(store, short) == "unknown API key"
    assert refused(store, "") == "unknown API key"


def test_no_file_means_no_keys(store, path):
    assert store.keys() == ()
    assert refused(store, "csk_" + "x" * 43) == "unknown API key"
    assert not path.exists()


def test_expiry_boundary(store, clock):
    expires = clock.seconds() + 60
    key, entry = store.add(Role.viewer, expires_at=expires)
    assert entry.expires_at == "2023-11-14T22:14:20Z"
    assert store.verify(key).expires_at == expires
    clock.advance(60 - 0.01)
    assert store.verify(key).key_id == entry.id
    clock.advance(0.02)
    assert refused(store, key) == "API key expired"


def test_expired_key_stays_listed(store, clock):
    key, entry = store.add(Role.viewer, expires_at=clock.seconds() + 1)
    clock.advance(5)
    assert refused(store, key) == "API key expired"
    assert [k.id for k in store.keys()] == [entry.id]


def test_revoke(store):
    key1, entry1 = store.add(Role.viewer, "one")
    key2, entry2 = store.add(Role.viewer, "two")
    assert store.revoke(entry1.id) is True
    assert refused(store, key1) == "unknown API key"
    assert store.verify(key2).key_id == entry2.id
    assert [k.id for k in store.keys()] == [entry2.id]
    assert store.revoke(entry1.id) is False


def test_revoke_unknown_id_changes_nothing(store, path):
    store.add(Role.viewer)
    before = path.read_bytes()
    assert store.revoke("key_00000000") is False
    assert path.read_bytes() == before


def test_revoke_without_a_file(store, path):
    assert store.revoke("key_00000000") is False
    assert not path.exists()


def test_import_a_supplied_key(store):
    supplied = "imported-" + "z" * (MIN_KEY_LENGTH - 9)
    assert len(supplied) == MIN_KEY_LENGTH
    key, entry = store.add(Role.admin, "imported", key=supplied)
    assert key == supplied
    assert store.verify(supplied).key_id == entry.id


def test_import_of_a_too_short_key_is_refused(store, path):
    with pytest.raises(ValueError, match="at least 32 characters"):
        store.add(Role.admin, key="y" * (MIN_KEY_LENGTH - 1))
    assert not path.exists()
    assert store.keys() == ()


def test_public_entry_has_no_secret_material(store, clock):
    _, entry = store.add(Role.viewer, "lobby", expires_at=clock.seconds() + 3600, cameras=["camera1000"])
    assert entry.public() == {
        "id": entry.id,
        "name": "lobby",
        "role": "viewer",
        "created_at": NOW_ISO,
        "expires_at": "2023-11-14T23:13:20Z",
        "cameras": ["camera1000"],
    }


def test_a_second_store_sees_changes_made_by_the_first(path, clock):
    admin = ApiKeyStore(path, clock)  # camservice-admin
    service = ApiKeyStore(path, clock)  # the running service
    assert service.keys() == ()

    key1, entry1 = admin.add(Role.viewer, "one")
    assert service.verify(key1).key_id == entry1.id

    key2, entry2 = admin.add(Role.operator, "two")
    assert service.verify(key2).role is Role.operator

    assert admin.revoke(entry1.id)
    assert refused(service, key1) == "unknown API key"
    assert service.verify(key2).key_id == entry2.id

    # and the other way round
    assert service.revoke(entry2.id)
    assert admin.keys() == ()


def test_file_removed_by_someone_else(store, path):
    key, _ = store.add(Role.viewer)
    path.unlink()
    assert refused(store, key) == "unknown API key"
    assert store.keys() == ()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        "[]",
        '{"version": 1}',
        '{"version": 1, "keys": [{"id": "key_1"}]}',
        '{"version": 1, "keys": [{"id": "key_1", "name": "", "role": "root", "salt": "00", "hash": "00", "created_at": "x"}]}',
        '{"version": 1, "keys": [{"id": "key_1", "name": "", "role": "admin", "salt": "zz", "hash": "00", "created_at": "x"}]}',
        '{"version": 1, "keys": [{"id": "key_1", "name": "", "role": "admin", "salt": "00", "hash": "00", "created_at": "x", "extra": 1}]}',
    ],
    ids=["not-json", "empty", "list", "no-keys", "missing-fields", "bad-role", "bad-salt", "unknown-field"],
)
def test_corrupt_file(store, path, content):
    path.parent.mkdir()
    path.write_text(content)
    assert refused(store, "csk_" + "x" * 43) == "API keys are unavailable"
    with pytest.raises(ValueError, match="unreadable API keys file"):
        store.keys()


def test_corruption_after_a_good_read_is_noticed(store, path):
    key, _ = store.add(Role.viewer)
    path.write_text("{broken")
    assert refused(store, key) == "API keys are unavailable"
    # adding to a file that cannot be read would lose its keys: refused
    with pytest.raises(ValueError):
        store.add(Role.viewer)
    assert path.read_text() == "{broken"


def test_store_recovers_when_the_file_is_fixed(path, clock):
    good = ApiKeyStore(path, clock)
    key, entry = good.add(Role.viewer)
    content = path.read_text()
    service = ApiKeyStore(path, clock)
    path.write_text("{broken")
    assert refused(service, key) == "API keys are unavailable"
    path.write_text(content)
    assert service.verify(key).key_id == entry.id


def test_writes_leave_no_temp_files(store, path, clock):
    for n in range(3):
        _, entry = store.add(Role.viewer, f"k{n}", expires_at=clock.seconds() + 10)
    store.revoke(entry.id)
    assert sorted(os.listdir(path.parent)) == ["api-keys.json"]
    assert len(json.loads(path.read_text())["keys"]) == 2
