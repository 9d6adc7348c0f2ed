"""The snapshot service on a Clock, with a capture that answers when the
test says so and the real filesystem: default names in UTC with ``_N``
for a second snapshot in one second, custom names checked and completed,
nothing ever overwritten (even by a name taken during the capture),
nothing partial visible, the file index told after the file is in place,
and a full disk refusing before any capture."""
from __future__ import annotations

import os

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.config.model import MediaConfig
from camservice.events import EventBus
from camservice.media.capture import Frame
from camservice.media.errors import (
    CameraNotConnected, CaptureFailed, InvalidMediaName, MediaFileExists, StorageCritical,
)
from camservice.media.snapshots import SnapshotService, default_name, snapshot_name, store_snapshot
from helpers.deferreds import fails_with, has_no_result, outcome

JPEG = b"\xff\xd8jpeg\xff\xd9"
# 2025-01-15T14:30:00Z
NOON = 1736951400.25
CAMERA = Camera("camera1000", CameraKind.VIRTUAL, "Pattern", CameraStatus.CONNECTED, "320x240", 10)


class FakeCapture:
    def __init__(self, clock):
        self.clock = clock
        self.waiting: list[defer.Deferred] = []

    def capture(self, camera):
        d = defer.Deferred()
        self.waiting.append(d)
        return d

    def deliver(self, jpeg=JPEG):
        d = self.waiting.pop(0)
        d.callback(Frame(jpeg, self.clock.seconds(), "mediamtx"))


class FakeFiles:
    """The file index: ``calls`` holds what it was told."""

    def __init__(self, folder):
        self.folder = folder
        self.calls = []

    def added(self, kind, name, camera_id):
        # told only once the file is complete under its name
        assert (self.folder / name).read_bytes() == JPEG
        self.calls.append((kind, name, camera_id))
        return defer.succeed(None)


class FakeStorage:
    def __init__(self):
        self.critical = False
        self.asked = 0

    def check_writable(self):
        self.asked += 1
        return defer.fail(StorageCritical("97% used")) if self.critical else defer.succeed(None)


@pytest.fixture
def world(tmp_path):
    clock = Clock()
    clock.advance(NOON)
    folder = tmp_path / "snapshots"
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    capture = FakeCapture(clock)
    files = FakeFiles(folder)
    storage = FakeStorage()
    cameras = {"camera1000": CAMERA}

    def streamable(camera_id):
        camera = cameras[camera_id]
        if camera.status is not CameraStatus.CONNECTED:
            raise CameraNotConnected(camera_id, camera.status.value)
        return camera

    service = SnapshotService(MediaConfig(snapshots_dir=folder), capture, streamable, bus, clock,
                              lambda f, *a: defer.maybeDeferred(f, *a), files=files, storage=storage)

    class World:
        pass

    w = World()
    w.clock, w.folder, w.events, w.capture, w.files, w.storage, w.cameras, w.service = (
        clock, folder, events, capture, files, storage, cameras, service)
    return w


def _names(folder):
    return sorted(os.listdir(folder))


def test_default_name_is_the_camera_and_the_utc_second():
    assert default_name("camera0", NOON) == "camera0_2025-01-15_14-30-00.jpg"
    assert default_name("camera0", NOON, 2) == "camera0_2025-01-15_14-30-00_2.jpg"


@pytest.mark.parametrize("given, stored", [
    ("front", "front.jpg"), ("front.jpg", "front.jpg"), ("front.JPEG", "front.JPEG"),
    ("shot.png", "shot.png.jpg"), ("a b", "a b.jpg"), ("x" * 251, "x" * 251 + ".jpg"),
])
def test_custom_names_get_jpg_when_missing(given, stored):
    assert snapshot_name(given) == stored


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a\\b", ".hidden", "..", "nul\x00", "tab\t", "x" * 252,
                                 "é" * 126])
def test_names_that_are_not_plain_or_too_long_are_refused(bad):
    with pytest.raises(InvalidMediaName) as refused:
        snapshot_name(bad)
    assert refused.value.param == "filename"


def test_a_snapshot_is_stored_announced_and_indexed(world):
    d = world.service.take("camera1000")
    assert has_no_result(d)
    assert world.storage.asked == 1
    world.clock.advance(0.5)
    world.capture.deliver()
    result = outcome(d)
    assert result == {
        "device": "camera1000",
        "filename": "camera1000_2025-01-15_14-30-00.jpg",
        "status": "SUCCESS",
        "timestamp": "2025-01-15T14:30:00Z",
        "file_size": len(JPEG),
        "file_path": "/files/snapshots/camera1000_2025-01-15_14-30-00.jpg",
    }
    assert _names(world.folder) == ["camera1000_2025-01-15_14-30-00.jpg"]
    assert oct(os.stat(world.folder / result["filename"]).st_mode & 0o777) == "0o640"
    assert world.files.calls == [("snapshots", result["filename"], "camera1000")]
    [event] = [e for e in world.events if e.topic == "snapshot.taken"]
    assert event.device == "camera1000"
    assert event.data == {"filename": result["filename"], "file_size": len(JPEG)}


def test_two_snapshots_in_one_second_get_n(world):
    first, second, third = (world.service.take("camera1000") for _ in range(3))
    for _ in range(3):
        world.capture.deliver()
    assert [outcome(d)["filename"] for d in (first, second, third)] == [
        "camera1000_2025-01-15_14-30-00.jpg",
        "camera1000_2025-01-15_14-30-00_1.jpg",
        "camera1000_2025-01-15_14-30-00_2.jpg",
    ]
    world.clock.advance(1)
    d = world.service.take("camera1000")
    world.capture.deliver()
    assert outcome(d)["filename"] == "camera1000_2025-01-15_14-30-01.jpg"


def test_an_existing_name_is_refused_before_capturing(world):
    world.folder.mkdir()
    (world.folder / "gate.jpg").write_bytes(b"old")
    error = fails_with(world.service.take("camera1000", "gate"), MediaFileExists)
    assert error.name == "gate.jpg"
    assert world.capture.waiting == [] and world.storage.asked == 0
    assert (world.folder / "gate.jpg").read_bytes() == b"old"


def test_a_name_taken_during_the_capture_is_not_overwritten(world):
    d = world.service.take("camera1000", "gate")
    world.folder.mkdir()
    (world.folder / "gate.jpg").write_bytes(b"someone else's")
    world.capture.deliver()
    fails_with(d, MediaFileExists)
    assert (world.folder / "gate.jpg").read_bytes() == b"someone else's"
    assert _names(world.folder) == ["gate.jpg"], "no temporary file is left"
    assert world.files.calls == [] and not [e for e in world.events if e.topic == "snapshot.taken"]


def test_a_failed_capture_leaves_nothing(world):
    d = world.service.take("camera1000", "never")
    world.capture.waiting.pop().errback(CaptureFailed("camera1000", "Connection refused"))
    fails_with(d, CaptureFailed)
    assert not world.folder.exists() or _names(world.folder) == []
    assert world.files.calls == []


def test_a_full_disk_refuses_before_capturing(world):
    world.storage.critical = True
    fails_with(world.service.take("camera1000"), StorageCritical)
    assert world.capture.waiting == []


def test_a_disconnected_camera_is_refused(world):
    world.cameras["camera1000"] = CAMERA.replace(status=CameraStatus.DISCONNECTED)
    fails_with(world.service.take("camera1000"), CameraNotConnected)
    assert world.capture.waiting == [] and world.storage.asked == 0


def test_without_collaborators_a_snapshot_is_still_taken(world, tmp_path):
    service = SnapshotService(MediaConfig(snapshots_dir=tmp_path / "alone"), world.capture, lambda c: CAMERA,
                              EventBus(), world.clock, lambda f, *a: defer.maybeDeferred(f, *a))
    d = service.take("camera1000", "solo")
    world.capture.deliver()
    assert outcome(d)["filename"] == "solo.jpg"
    assert (tmp_path / "alone" / "solo.jpg").read_bytes() == JPEG


def test_store_links_the_complete_file_and_cleans_up(tmp_path):
    folder = tmp_path / "s"
    assert store_snapshot(folder, ["a.jpg", "b.jpg"], JPEG) == ("a.jpg", len(JPEG))
    assert store_snapshot(folder, ["a.jpg", "b.jpg"], JPEG) == ("b.jpg", len(JPEG))
    with pytest.raises(MediaFileExists):
        store_snapshot(folder, ["a.jpg", "b.jpg"], JPEG)
    assert _names(folder) == ["a.jpg", "b.jpg"]
