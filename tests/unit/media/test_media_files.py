"""The media file index: scans, producers' additions, holds, pagination,
per-camera filtering and deletions, on a real temporary folder."""
from __future__ import annotations

import json
import os

import pytest
from twisted.internet import defer

from camservice.auth.errors import PermissionDenied
from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.config.model import MediaConfig
from camservice.media.errors import MediaFileNotFound
from camservice.media.files import MediaFiles, camera_of, content_type, is_listable_name

from helpers.deferreds import outcome
from twisted.python.failure import Failure


def result_of(d):
    r = outcome(d)
    assert not isinstance(r, Failure), r
    return r


def failure_of(d):
    r = outcome(d)
    assert isinstance(r, Failure), f"fired with {r!r}"
    return r


def inline(f, *args, **kwargs):
    return defer.maybeDeferred(f, *args, **kwargs)


def put(folder, name, size=10, mtime=None):
    path = folder / name
    path.write_bytes(b"x" * size)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def folders(tmp_path):
    rec, snap = tmp_path / "recordings", tmp_path / "snapshots"
    rec.mkdir()
    snap.mkdir()
    return rec, snap


@pytest.fixture
def make(tmp_path, folders, clock):
    made = []

    def build(rescan_interval=60.0):
        config = MediaConfig(recordings_dir=folders[0], snapshots_dir=folders[1])
        files = MediaFiles(config, tmp_path / "media-cameras.json", clock, run_blocking=inline,
                           rescan_interval=rescan_interval)
        made.append(files)
        return files

    yield build
    for files in made:
        if files.running:
            result_of(files.stopService())


def viewer(*cameras):
    return Principal("v", Role.viewer, None, frozenset(cameras) if cameras else None)


def test_names():
    assert camera_of("camera0_2025-01-15_14-30-00.mp4") == "camera0"
    assert camera_of("garden.jpg") is None
    assert camera_of("cameraX_1.jpg") is None
    assert content_type("a.MP4") == "video/mp4"
    assert content_type("a.mkv") == "video/x-matroska"
    assert content_type("a.jpg") == "image/jpeg"
    assert content_type("a.bin") == "application/octet-stream"
    for bad in ("", ".", "..", ".parts", ".camera0_x.mp4.tmp", "a/b", "a\x00b", "é" * 128):
        assert not is_listable_name(bad), bad
    assert is_listable_name("é" * 127)


def test_start_scans_finalized_files_only(make, folders, clock):
    rec, snap = folders
    put(rec, "camera1_a.mp4", 100, 1000)
    put(rec, "camera2_b.mkv", 50, 3000)
    put(rec, ".camera1_c.mp4.tmp", 5)          # being renamed into place
    (rec / ".parts").mkdir()
    put(rec / ".parts", "camera1_seg.mp4", 7)  # being recorded
    (rec / "sub").mkdir()                      # not a file
    os.symlink("/etc/passwd", rec / "camera1_link.mp4")
    put(snap, "camera1_s.jpg", 3, 2000)
    files = make()
    ready = files.ready()
    files.startService()
    assert result_of(ready) is None
    assert [f.name for f in files.files("recordings")] == ["camera2_b.mkv", "camera1_a.mp4"]
    assert files.total_size("recordings") == 150
    assert files.total_size("snapshots") == 3
    assert [f.camera_id for f in files.files("recordings")] == ["camera2", "camera1"]


def test_newest_first_and_pages(make, folders):
    rec, _ = folders
    for i in range(7):
        put(rec, f"camera1_{i}.mp4", 1, 1000 + i)
    files = make()
    files.startService()
    page, total = files.page("recordings", None, 3, 0)
    assert total == 7 and [f.name for f in page] == ["camera1_6.mp4", "camera1_5.mp4", "camera1_4.mp4"]
    page, total = files.page("recordings", None, 3, 6)
    assert [f.name for f in page] == ["camera1_0.mp4"]
    assert files.page("recordings", None, 3, 100) == ([], 7)


def test_camera_allow_list_filters(make, folders):
    rec, _ = folders
    put(rec, "camera1_a.mp4", 1, 1000)
    put(rec, "camera2_b.mp4", 1, 2000)
    put(rec, "nobody.mp4", 1, 3000)
    files = make()
    files.startService()
    assert [f.name for f in files.files("recordings", viewer("camera1"))] == ["camera1_a.mp4"]
    assert len(files.files("recordings", viewer())) == 3
    assert result_of(files.find("recordings", "camera1_a.mp4", viewer("camera1"))).size == 1
    denied = failure_of(files.find("recordings", "camera2_b.mp4", viewer("camera1")))
    assert denied.check(PermissionDenied) and denied.value.camera == "camera2"
    # a file of no known camera is for callers allowed every camera only
    assert failure_of(files.find("recordings", "nobody.mp4", viewer("camera1"))).check(PermissionDenied)


def test_added_names_the_camera_of_a_custom_name_across_restarts(make, folders, tmp_path):
    _, snap = folders
    files = make()
    files.startService()
    put(snap, "garden.jpg", 4)
    f = result_of(files.added("snapshots", "garden.jpg", "camera3"))
    assert (f.camera_id, f.size) == ("camera3", 4)
    assert [x.name for x in files.files("snapshots", viewer("camera3"))] == ["garden.jpg"]
    stored = json.loads((tmp_path / "media-cameras.json").read_text())
    assert stored["snapshots"] == {"garden.jpg": "camera3"}
    # a prefixed name needs no entry
    put(snap, "camera3_x.jpg", 1)
    result_of(files.added("snapshots", "camera3_x.jpg", "camera3"))
    assert json.loads((tmp_path / "media-cameras.json").read_text())["snapshots"] == {"garden.jpg": "camera3"}
    result_of(files.stopService())
    again = make()
    again.startService()
    assert result_of(again.find("snapshots", "garden.jpg")).camera_id == "camera3"


def test_added_refuses_what_is_not_a_finalized_file(make, folders):
    rec, _ = folders
    files = make()
    files.startService()
    assert failure_of(files.added("recordings", "camera1_none.mp4", "camera1")).check(MediaFileNotFound)
    put(rec, ".camera1_a.mp4.tmp")
    assert failure_of(files.added("recordings", ".camera1_a.mp4.tmp", "camera1")).check(MediaFileNotFound)
    with pytest.raises(ValueError):
        files.hold("elsewhere", "x")


def test_find_indexes_a_file_renamed_in_before_added(make, folders):
    rec, _ = folders
    files = make()
    files.startService()
    put(rec, "camera1_new.mp4", 9)
    assert files.files("recordings") == []
    assert result_of(files.find("recordings", "camera1_new.mp4")).size == 9
    assert [f.name for f in files.files("recordings")] == ["camera1_new.mp4"]
    for hidden in (".camera1_new.mp4.tmp", "..", ".parts"):
        assert failure_of(files.find("recordings", hidden)).check(MediaFileNotFound)


def test_rescan_follows_the_disk_on_the_clock(make, folders, clock):
    rec, _ = folders
    put(rec, "camera1_a.mp4", 1, 1000)
    files = make(rescan_interval=30)
    files.startService()
    put(rec, "camera1_b.mp4", 2, 2000)
    (rec / "camera1_a.mp4").unlink()
    clock.advance(29.9)
    assert [f.name for f in files.files("recordings")] == ["camera1_a.mp4"]
    clock.advance(0.2)
    assert [f.name for f in files.files("recordings")] == ["camera1_b.mp4"]
    assert files.total_size("recordings") == 2


def test_a_scan_does_not_undo_what_happened_while_it_ran(make, folders):
    """A producer's addition and a deletion during a scan win over what
    the scan saw before them."""
    rec, _ = folders
    put(rec, "camera1_old.mp4", 1, 1000)
    gates = []

    def gated(f, *args, **kwargs):
        d = defer.Deferred()
        gates.append((d, f, args, kwargs))
        return d

    config = MediaConfig(recordings_dir=rec, snapshots_dir=folders[1])
    from twisted.internet.task import Clock

    files = MediaFiles(config, rec.parent / "m.json", Clock(), run_blocking=gated)
    scanning = files.rescan()

    def run_next():
        d, f, args, kwargs = gates.pop(0)
        d.callback(f(*args, **kwargs))

    run_next()  # the sidecar read
    # the recordings folder is listed now, then a file is added and one deleted
    d, f, args, kwargs = gates.pop(0)
    seen = f(*args, **kwargs)
    put(rec, "camera1_new.mp4", 3)
    added = files.added("recordings", "camera1_new.mp4", "camera1")
    run_next()  # the stat of the new file
    assert result_of(added).size == 3
    d.callback(seen)  # the scan's view, from before the addition
    run_next()  # the snapshots folder
    assert result_of(scanning) is None
    assert sorted(x.name for x in files.files("recordings")) == ["camera1_new.mp4", "camera1_old.mp4"]


def test_holds_count_and_release_once(make):
    files = make()
    a = files.hold("recordings", "camera1_a.mp4")
    with files.hold("recordings", "camera1_a.mp4"):
        assert files.held("recordings", "camera1_a.mp4")
    assert files.held("recordings", "camera1_a.mp4")
    a()
    a()
    assert not files.held("recordings", "camera1_a.mp4")


def test_delete_unlinks_and_forgets(make, folders, tmp_path):
    rec, snap = folders
    put(rec, "camera1_a.mp4", 5)
    put(snap, "garden.jpg", 2)
    files = make()
    files.startService()
    result_of(files.added("snapshots", "garden.jpg", "camera2"))
    f = result_of(files.delete("recordings", "camera1_a.mp4"))
    assert f.size == 5 and not (rec / "camera1_a.mp4").exists()
    assert files.files("recordings") == [] and files.total_size("recordings") == 0
    assert failure_of(files.delete("recordings", "camera1_a.mp4")).check(MediaFileNotFound)
    assert failure_of(files.delete("snapshots", "garden.jpg", viewer("camera1"))).check(PermissionDenied)
    assert (snap / "garden.jpg").exists()
    result_of(files.delete("snapshots", "garden.jpg", viewer("camera2")))
    assert json.loads((tmp_path / "media-cameras.json").read_text())["snapshots"] == {}


def test_filtered_lists_follow_changes(make, folders):
    rec, _ = folders
    put(rec, "camera1_a.mp4", 1, 1000)
    files = make()
    files.startService()
    one = viewer("camera1")
    assert [f.name for f in files.files("recordings", one)] == ["camera1_a.mp4"]
    put(rec, "camera1_b.mp4", 1, 2000)
    result_of(files.added("recordings", "camera1_b.mp4", "camera1"))
    assert [f.name for f in files.files("recordings", one)] == ["camera1_b.mp4", "camera1_a.mp4"]
    result_of(files.delete("recordings", "camera1_a.mp4"))
    assert [f.name for f in files.files("recordings", one)] == ["camera1_b.mp4"]
