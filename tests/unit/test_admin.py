"""camservice.admin.main (``camservice-admin``): tokens, API keys and
config checks, always against a config file in a temp folder."""
from __future__ import annotations

import io
import json
import sys
import time

import pytest
from twisted.internet.task import Clock

from camservice.admin import main
from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.errors import AuthenticationError
from camservice.auth.roles import Role
from camservice.auth.secret import load_or_create_secret
from camservice.auth.tokens import TokenAuthority, looks_like_jwt
from camservice.config import load_config


def wall_clock() -> Clock:
    """A Clock at the current time: the admin tool mints with wall time."""
    c = Clock()
    c.advance(time.time())
    return c


@pytest.fixture
def config_path(write_config):
    return write_config({"cameras": {"declared": [{"kind": "virtual"}]}})


@pytest.fixture
def run(config_path, capsys):
    """``run(*args) -> (status, stdout, stderr)`` with ``--config`` set."""

    def run(*args):
        status = main(["--config", str(config_path), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def authority_for(config_path, clock) -> TokenAuthority:
    config = load_config(config_path, environ={})
    return TokenAuthority(load_or_create_secret(config.auth), clock, config.auth.leeway)


def store_for(config_path) -> ApiKeyStore:
    return ApiKeyStore(load_config(config_path, environ={}).auth.api_keys_file, wall_clock())


# -- token -----------------------------------------------------------------------


def test_token_verifies_with_the_configured_secret(run, config_path, tmp_path):
    before = time.time()
    status, out, err = run("token", "--role", "operator", "--ttl", "60")
    assert status == 0
    token = out.splitlines()[-1]
    assert token == out.strip()  # alone: nothing else on stdout
    assert looks_like_jwt(token)
    assert "operator token for admin-cli" in err
    # the secret was generated in the config's data dir
    assert (tmp_path / "data" / "jwt-secret").exists()

    authority = authority_for(config_path, wall_clock())
    principal = authority.verify(token)
    assert principal.role is Role.operator
    assert principal.user_id == "admin-cli"
    assert principal.cameras is None
    leeway = authority._leeway
    assert before + 60 - 1 + leeway <= principal.expires_at <= time.time() + 60 + leeway


def test_token_is_refused_by_another_secret(run):
    status, out, _ = run("token", "--role", "viewer", "--ttl", "60")
    assert status == 0
    other = TokenAuthority("x" * 64, wall_clock())
    with pytest.raises(AuthenticationError, match="signature"):
        other.verify(out.splitlines()[-1])


def test_token_uses_an_inline_secret_from_the_config(write_config, capsys):
    secret = "inline-secret-" + "q" * 30
    path = write_config({"auth": {"jwt_secret": secret}})
    assert main(["--config", str(path), "token", "--role", "admin"]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    principal = TokenAuthority(secret, wall_clock()).verify(token)
    assert principal.role is Role.admin
    # default ttl is auth.token_ttl
    assert abs(principal.expires_at - (time.time() + 86400)) < 5


def test_token_camera_and_user_end_up_in_the_claims(run, config_path):
    status, out, _ = run("token", "--role", "viewer", "--ttl", "60", "--user", "kiosk", "--camera", "camera1000", "--camera", "camera3")
    assert status == 0
    principal = authority_for(config_path, wall_clock()).verify(out.splitlines()[-1])
    assert principal.cameras == frozenset({"camera1000", "camera3"})
    assert principal.user_id == "kiosk"
    assert principal.may_use_camera("camera1000")
    assert not principal.may_use_camera("camera1001")


def test_repeated_tokens_share_the_secret(run, config_path):
    tokens = [run("token", "--role", "viewer", "--ttl", "60")[1].splitlines()[-1] for _ in range(2)]
    authority = authority_for(config_path, wall_clock())
    assert [authority.verify(t).role for t in tokens] == [Role.viewer, Role.viewer]


@pytest.mark.parametrize(
    "args",
    [
        ["token", "--role", "root"],
        ["token"],
        ["token", "--role", "viewer", "--ttl", "0"],
        ["token", "--role", "viewer", "--ttl", "soon"],
        ["token", "--role", "viewer", "--camera", "cam1"],
        ["keys", "add", "--role", "superuser"],
        ["keys", "add", "--role", "viewer", "--camera", "camera"],
        ["keys"],
        [],
    ],
)
def test_bad_arguments_exit_2(run, capsys, args):
    with pytest.raises(SystemExit) as info:
        run(*args)
    assert info.value.code == 2
    assert "camservice-admin" in capsys.readouterr().err


def test_bad_role_names_the_choices(run, capsys):
    with pytest.raises(SystemExit):
        run("token", "--role", "root")
    err = capsys.readouterr().err
    assert "'root'" in err
    assert "viewer" in err and "operator" in err and "admin" in err


# -- keys --------------------------------------------------------------------------


def test_keys_add_list_revoke_round_trip(run, config_path):
    status, out, err = run("keys", "add", "--role", "operator", "--name", "ci", "--camera", "camera1000", "--expires-in", "3600")
    assert status == 0
    key = out.splitlines()[-1]
    assert key == out.strip()
    assert len(key) >= 32
    assert "shown only now" in err

    principal = store_for(config_path).verify(key)
    assert principal.role is Role.operator
    assert principal.cameras == frozenset({"camera1000"})
    assert abs(principal.expires_at - (time.time() + 3600)) < 5
    key_id = principal.key_id

    status, out, _ = run("keys", "list", "--json")
    assert status == 0
    assert key not in out
    (listed,) = json.loads(out)
    assert listed["id"] == key_id
    assert listed["role"] == "operator"
    assert listed["name"] == "ci"
    assert listed["cameras"] == ["camera1000"]
    assert listed["expires_at"] is not None
    assert "salt" not in listed and "hash" not in listed

    status, out, _ = run("keys", "list")
    assert status == 0
    assert key not in out
    assert key_id in out and "operator" in out and "camera1000" in out and "ci" in out

    status, out, _ = run("keys", "revoke", key_id)
    assert (status, out.strip()) == (0, f"revoked {key_id}")
    with pytest.raises(AuthenticationError, match="unknown API key"):
        store_for(config_path).verify(key)
    status, out, _ = run("keys", "list", "--json")
    assert json.loads(out) == []


def test_keys_list_when_empty(run):
    status, out, _ = run("keys", "list")
    assert status == 0
    assert out.startswith("no API keys in ")


def test_keys_revoke_unknown_id_fails(run):
    status, _, err = run("keys", "revoke", "key_00000000")
    assert status == 1
    assert "no API key with id key_00000000" in err


def test_keys_add_without_limits(run, config_path):
    status, out, _ = run("keys", "add", "--role", "viewer")
    assert status == 0
    principal = store_for(config_path).verify(out.splitlines()[-1])
    assert (principal.role, principal.cameras, principal.expires_at) == (Role.viewer, None, None)


def test_keys_add_from_stdin(run, config_path, monkeypatch):
    supplied = "supplied-key-" + "s" * 30
    monkeypatch.setattr(sys, "stdin", io.StringIO(supplied + "\n"))
    status, out, _ = run("keys", "add", "--role", "admin", "--from-stdin")
    assert status == 0
    assert out.strip() == supplied
    assert store_for(config_path).verify(supplied).role is Role.admin


def test_keys_add_from_stdin_with_a_short_key_fails(run, config_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("too-short\n"))
    status, out, err = run("keys", "add", "--role", "admin", "--from-stdin")
    assert status == 1
    assert out == ""
    assert "at least 32 characters" in err
    assert store_for(config_path).keys() == ()


def test_keys_with_a_corrupt_file_fail_cleanly(run, tmp_path):
    keys_file = tmp_path / "data" / "api-keys.json"
    keys_file.parent.mkdir(parents=True)
    keys_file.write_text("{broken")
    status, out, err = run("keys", "list")
    assert status == 1
    assert out == ""
    assert "unreadable API keys file" in err
    assert keys_file.read_text() == "{broken"


# -- check-config ------------------------------------------------------------------


def test_check_config_ok(run, config_path):
    status, out, err = run("check-config")
    assert status == 0
    lines = out.strip().splitlines()
    assert lines[0] == f"configuration OK: {config_path}"
    assert "API:      ws://127.0.0.1:8002/ws" in lines
    assert "MediaMTX: managed, Control API http://127.0.0.1:9997" in lines
    assert err == ""


def test_check_config_error_is_one_line_naming_the_key(write_config, capsys):
    path = write_config({"server": {"port": 70000}})
    assert main(["--config", str(path), "check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"camservice-admin: config error: {path}: server.port = 70000: must be at most 65535"]


def test_check_config_reports_every_problem_one_per_line(write_config, capsys):
    path = write_config({"server": {"port": 70000}, "logging": {"level": "loud"}})
    assert main(["--config", str(path), "check-config"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert "logging.level = 'loud'" in lines[0]
    assert "server.port = 70000" in lines[1]


def test_check_config_reads_the_environment(write_config, monkeypatch, capsys):
    path = write_config({})
    monkeypatch.setenv("CAMSERVICE_LOGGING__LEVEL", "loud")
    assert main(["--config", str(path), "check-config"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "camservice-admin: config error: CAMSERVICE_LOGGING__LEVEL: logging.level = 'loud': "
        "must be one of: debug, info, warn, error, critical"
    ]


def test_token_with_a_bad_config_exits_2_without_a_token(write_config, capsys):
    path = write_config({"auth": {"token_ttl": 0}})
    assert main(["--config", str(path), "token", "--role", "viewer"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "auth.token_ttl = 0" in err


def test_token_with_a_too_short_secret_file_exits_2(write_config, capsys, tmp_path):
    secret_file = tmp_path / "short-secret"
    secret_file.write_text("short\n")
    path = write_config({"auth": {"jwt_secret_file": str(secret_file)}})
    assert main(["--config", str(path), "token", "--role", "viewer"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "auth.jwt_secret_file" in err


# -- stream-url ----------------------------------------------------------------


def test_stream_url_mints_what_the_service_accepts(write_config, capsys):
    from camservice.streamauth.secrets import StreamSecrets, load_stream_key
    from camservice.streamauth.tokens import StreamTokens

    path = write_config({"streams": {"signed_urls": True, "token_ttl": 600}})
    assert main(["--config", str(path), "stream-url", "camera1000"]) == 0
    out, err = capsys.readouterr()
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert set(lines) == {"rtsp", "hls", "webrtc"}
    token = lines["rtsp"].split("?token=")[1]
    assert lines["hls"].endswith("/camera1000/index.m3u8?token=" + token)
    assert "playback must start before" in err
    # the service's own check, with the key camservice-admin used
    config = load_config(path, environ={})
    StreamTokens(StreamSecrets(load_stream_key(config.data_dir)), wall_clock(), 600).check(token, "camera1000")

    assert main(["--config", str(path), "stream-url", "camera1000", "--protocol", "hls"]) == 0
    assert capsys.readouterr().out.strip() == lines["hls"]


def test_stream_url_without_signed_urls_is_plain(run):
    status, out, err = run("stream-url", "camera1000", "--protocol", "rtsp")
    assert status == 0
    assert out.strip() == "rtsp://127.0.0.1:8554/camera1000"
    assert "signed_urls is off" in err


def test_stream_url_of_a_bad_camera_id_exits_2(run, capsys):
    with pytest.raises(SystemExit) as info:
        run("stream-url", "camera1000\n")
    assert info.value.code == 2
