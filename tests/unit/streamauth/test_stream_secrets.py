"""The stream key and the Control API password: created once, private,
the same on every load."""
from __future__ import annotations

import pytest

from camservice.config.errors import ConfigError
from camservice.streamauth.secrets import load_api_password, load_stream_key


def test_the_stream_key_is_created_once_privately_and_kept(tmp_path):
    key = load_stream_key(tmp_path / "data")
    path = tmp_path / "data" / "stream-key"
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert load_stream_key(tmp_path / "data") == key


def test_a_damaged_stream_key_is_a_config_error(tmp_path):
    (tmp_path / "stream-key").write_text("not hex\n")
    with pytest.raises(ConfigError) as info:
        load_stream_key(tmp_path)
    assert info.value.problems[0].key == "data_dir"


def test_the_api_password_is_generated_once_privately(tmp_path):
    path = tmp_path / "mediamtx-api-password"
    password = load_api_password(path)
    assert len(password) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_api_password(path) == password


def test_an_operators_password_file_is_read_and_a_short_one_refused(tmp_path):
    path = tmp_path / "pw"
    path.write_text("a-long-enough-password\nignored\n")
    assert load_api_password(path) == "a-long-enough-password"
    path.write_text("short\n")
    with pytest.raises(ConfigError) as info:
        load_api_password(path)
    assert info.value.problems[0].key == "mediamtx.api_password_file"
