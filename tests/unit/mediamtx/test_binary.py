"""Which MediaMTX managed mode runs: configured, cached build, packaged, PATH."""
from __future__ import annotations

import pytest

from camservice.errors import StartupError
from camservice.mediamtx.binary import PINNED_VERSION, find_mediamtx


def _fake(path, version=PINNED_VERSION):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def places(tmp_path):
    cache = tmp_path / "cache"
    return {
        "environ": {"CAMSERVICE_CACHE": str(cache), "PATH": str(tmp_path / "bin")},
        "cached": cache / "mediamtx" / PINNED_VERSION / "mediamtx",
        "packaged": tmp_path / "usr-lib" / "mediamtx",
        "on_path": tmp_path / "bin" / "mediamtx",
    }


def _find(places, configured=None):
    return find_mediamtx(configured, places["environ"], packaged=str(places["packaged"]))


def test_the_cached_build_comes_before_the_packaged_one(places):
    cached = _fake(places["cached"])
    _fake(places["packaged"])
    _fake(places["on_path"])
    assert _find(places) == (cached, PINNED_VERSION)


def test_the_packaged_one_comes_before_path(places):
    packaged = _fake(places["packaged"])
    _fake(places["on_path"])
    assert _find(places) == (packaged, PINNED_VERSION)


def test_path_is_the_last_resort(places):
    on_path = _fake(places["on_path"])
    assert _find(places) == (on_path, PINNED_VERSION)


def test_a_configured_binary_wins(places, tmp_path):
    _fake(places["packaged"])
    mine = _fake(tmp_path / "mine" / "mediamtx")
    assert _find(places, mine) == (mine, PINNED_VERSION)


def test_none_found_names_the_package(places):
    with pytest.raises(StartupError, match="install camservice-mediamtx"):
        _find(places)


def test_an_unsupported_packaged_version_is_refused(places):
    _fake(places["packaged"], "v1.9.0")
    with pytest.raises(StartupError, match="is MediaMTX v1.9.0; supported: v1.20.x"):
        _find(places)
