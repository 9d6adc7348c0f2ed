"""camservice.fileutil: atomic_write, create_exclusive, ensure_dir."""
from __future__ import annotations

import os
import stat

import pytest

from camservice.fileutil import atomic_write, create_exclusive, ensure_dir


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


def failing_fsync(fd):
    raise OSError(5, "Input/output error")


# -- atomic_write ----------------------------------------------------------------


def test_atomic_write_creates_the_file_owner_only(tmp_path):
    target = tmp_path / "state.json"
    atomic_write(target, b'{"a": 1}\n')
    assert target.read_bytes() == b'{"a": 1}\n'
    assert mode(target) == 0o600
    assert listing(tmp_path) == ["state.json"]


def test_atomic_write_replaces_content_and_mode(tmp_path):
    target = tmp_path / "state.json"
    target.write_bytes(b"old content that is longer than the new one")
    target.chmod(0o644)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o600
    assert listing(tmp_path) == ["state.json"]


@pytest.mark.parametrize("wanted", [0o644, 0o640, 0o400])
def test_atomic_write_sets_the_given_mode_whatever_the_umask(tmp_path, wanted):
    target = tmp_path / "f"
    old_umask = os.umask(0o077)
    try:
        atomic_write(target, b"x", mode=wanted)
    finally:
        os.umask(old_umask)
    assert mode(target) == wanted


def test_atomic_write_is_a_new_file_not_an_in_place_edit(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with open(target, "rb") as reader:  # e.g. another process reading it
        atomic_write(target, b"new")
        assert reader.read() == b"old"
    assert target.read_bytes() == b"new"


def test_atomic_write_does_not_follow_into_a_symlinked_target(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(b"real")
    link = tmp_path / "link"
    link.symlink_to(real)
    atomic_write(link, b"new")
    # the link is replaced by a file; the file it pointed to is untouched
    assert real.read_bytes() == b"real"
    assert not link.is_symlink()
    assert link.read_bytes() == b"new"


def test_failed_write_keeps_the_old_content_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["state.json"]


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        atomic_write(tmp_path / "new.json", b"data")
    monkeypatch.undo()
    assert listing(tmp_path) == []


def test_failed_rename_keeps_the_old_content_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["state.json"]


def test_interrupted_write_removes_the_temp_file(tmp_path, monkeypatch):
    # BaseException too (e.g. KeyboardInterrupt while writing)
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["state.json"]


def test_atomic_write_into_a_missing_folder_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f", b"x")
    assert listing(tmp_path) == []


# -- create_exclusive --------------------------------------------------------------


def test_create_exclusive_once_then_never_again(tmp_path):
    target = tmp_path / "secret"
    assert create_exclusive(target, b"first\n") is True
    assert create_exclusive(target, b"second\n") is False
    assert target.read_bytes() == b"first\n"
    assert mode(target) == 0o600
    assert listing(tmp_path) == ["secret"]


def test_create_exclusive_never_overwrites_an_existing_file(tmp_path):
    target = tmp_path / "secret"
    target.write_bytes(b"mine")
    target.chmod(0o640)
    assert create_exclusive(target, b"theirs") is False
    assert target.read_bytes() == b"mine"
    assert mode(target) == 0o640
    assert listing(tmp_path) == ["secret"]


def test_create_exclusive_mode(tmp_path):
    target = tmp_path / "f"
    assert create_exclusive(target, b"x", mode=0o644) is True
    assert mode(target) == 0o644


def test_create_exclusive_failed_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        create_exclusive(tmp_path / "secret", b"x")
    monkeypatch.undo()
    assert listing(tmp_path) == []


# -- ensure_dir ----------------------------------------------------------------------


def test_ensure_dir_creates_owner_only_and_is_idempotent(tmp_path):
    folder = tmp_path / "data"
    assert ensure_dir(folder) == folder
    assert mode(folder) == 0o700
    (folder / "keep").write_text("x")
    assert ensure_dir(folder) == folder
    assert listing(folder) == ["keep"]


def test_ensure_dir_refuses_a_file(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("")
    with pytest.raises(OSError):
        ensure_dir(blocker)

