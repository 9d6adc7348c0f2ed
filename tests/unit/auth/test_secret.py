"""camservice.auth.secret.load_or_create_secret: inline secret, generated
file (0600 in a 0700 folder), reuse, too short, cannot create."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from camservice.auth.secret import MIN_SECRET_LENGTH, load_or_create_secret
from camservice.config import AuthConfig, ConfigError


def auth_config(secret_file: Path, jwt_secret=None) -> AuthConfig:
    return AuthConfig(
        jwt_secret=jwt_secret,
        jwt_secret_file=secret_file,
        api_keys_file=secret_file.parent / "api-keys.json",
        token_ttl=3600,
        leeway=10,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_inline_secret_wins_and_no_file_is_made(tmp_path):
    inline = "inline-" + "i" * 32
    secret_file = tmp_path / "data" / "jwt-secret"
    assert load_or_create_secret(auth_config(secret_file, jwt_secret=inline)) == inline
    assert not secret_file.exists()
    assert not secret_file.parent.exists()


def test_inline_secret_wins_over_an_existing_file(tmp_path):
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text("f" * 40 + "\n")
    inline = "inline-" + "i" * 32
    assert load_or_create_secret(auth_config(secret_file, jwt_secret=inline)) == inline


def test_creates_the_file_0600_in_a_new_0700_folder(tmp_path):
    secret_file = tmp_path / "data" / "jwt-secret"
    secret = load_or_create_secret(auth_config(secret_file))
    assert len(secret) >= MIN_SECRET_LENGTH
    assert secret_file.read_text().strip() == secret
    assert mode(secret_file) == 0o600
    assert mode(secret_file.parent) == 0o700
    # nothing but the secret in the folder (no temp file left)
    assert os.listdir(secret_file.parent) == ["jwt-secret"]


def test_second_call_returns_the_same_secret(tmp_path):
    config = auth_config(tmp_path / "data" / "jwt-secret")
    first = load_or_create_secret(config)
    assert load_or_create_secret(config) == first
    # and so does another process with the same config
    assert load_or_create_secret(auth_config(tmp_path / "data" / "jwt-secret")) == first


def test_each_new_file_gets_a_new_random_secret(tmp_path):
    a = load_or_create_secret(auth_config(tmp_path / "a" / "jwt-secret"))
    b = load_or_create_secret(auth_config(tmp_path / "b" / "jwt-secret"))
    assert a != b


def test_existing_secret_file_is_read_and_stripped(tmp_path):
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text("  " + "p" * 32 + "\n\n")
    assert load_or_create_secret(auth_config(secret_file)) == "p" * 32
    assert secret_file.read_text() == "  " + "p" * 32 + "\n\n"  # left alone


@pytest.mark.parametrize("content", ["", "\n", "short\n", "x" * (MIN_SECRET_LENGTH - 1), " " * 40])
def test_too_short_secret_in_the_file(tmp_path, content):
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_or_create_secret(auth_config(secret_file))
    (problem,) = info.value.problems
    assert problem.key == "auth.jwt_secret_file"
    assert "at least 32 characters" in problem.rule
    # the message names the file (as the key's value)
    assert problem.value == str(secret_file)
    assert str(problem).startswith("auth.jwt_secret_file = '")
    assert secret_file.read_text() == content  # not replaced


def _unwritable_location(tmp_path) -> Path:
    """A secret file path whose folder cannot be created or written."""
    if os.geteuid() == 0:
        # root ignores directory modes: make the parent a regular file
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        return blocker / "jwt-secret"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "data" / "jwt-secret"


def test_unwritable_location(tmp_path):
    secret_file = _unwritable_location(tmp_path)
    try:
        with pytest.raises(ConfigError) as info:
            load_or_create_secret(auth_config(secret_file))
    finally:
        (tmp_path / "locked").exists() and (tmp_path / "locked").chmod(0o700)
    (problem,) = info.value.problems
    assert problem.key == "auth.jwt_secret_file"
    assert problem.rule.startswith("cannot read or create it: ")
    assert problem.value == str(secret_file)
    assert not secret_file.exists()


def test_secret_path_that_is_a_folder(tmp_path):
    secret_file = tmp_path / "jwt-secret"
    secret_file.mkdir()
    with pytest.raises(ConfigError) as info:
        load_or_create_secret(auth_config(secret_file))
    assert info.value.problems[0].key == "auth.jwt_secret_file"
    assert info.value.problems[0].rule == "cannot read or create it: Is a directory"
