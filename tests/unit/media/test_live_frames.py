"""Live frames on a fake process reactor: a keyframe reader per held
camera and only while it is held, its ``mpjpeg`` parts split into JPEGs
however the pipe cuts them, frames too old ignored, a reader that keeps
dying restarted with backoff, and captures answered from a fresh frame."""
from __future__ import annotations

import pytest

from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.config import load_config
from camservice.media.capture import FrameCapture
from camservice.media.live_frames import LiveFrames, MultipartJPEG
from fakes.process_reactor import FakeProcessReactor
from helpers.deferreds import outcome

JPEG = b"\xff\xd8" + b"\x00\xff\x00keyframe" * 20 + b"\xff\xd9"
QUERY = "camservice=hold&token=i1-x"


def part(jpeg: bytes = JPEG) -> bytes:
    return b"--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg)


@pytest.fixture
def reactor():
    return FakeProcessReactor(now=1_700_000_000)


@pytest.fixture
def config(write_config):
    return load_config(write_config({"media": {"live_snapshot_max_age": 3}}))


class World:
    def __init__(self, config, reactor):
        self.held: list[str] = []
        self.cameras = {f"camera{n}": Camera(f"camera{n}", CameraKind.VIRTUAL, "P", CameraStatus.CONNECTED,
                                             "320x240", 10) for n in (1000, 1001)}
        self.reactor = reactor
        self.live = LiveFrames(config.mediamtx, config.media, reactor, lambda: list(self.held),
                               self.cameras.get, QUERY)

    def tap(self, camera_id: str):
        [process] = [p for p in self.reactor.alive() if f"/{camera_id}?" in " ".join(p.args)]
        return process


@pytest.fixture
def world(config, reactor):
    w = World(config, reactor)
    w.live.startService()
    yield w
    stopped = w.live.stopService()
    reactor.advance(0)
    outcome(stopped)
    assert reactor.alive() == [] and reactor.getDelayedCalls() == []


def test_parts_are_split_however_the_pipe_cuts_them():
    frames = []
    proto = MultipartJPEG(frames.append)
    stream = part() + part(JPEG[:-2] + b"\xff\xd9") + part()
    for i in range(0, len(stream), 7):
        proto.outReceived(stream[i:i + 7])
    assert frames == [JPEG, JPEG, JPEG]
    proto.outReceived(b"\r\n\r\n" + part(b"not a jpeg") + part())
    assert frames[-1] == JPEG and len(frames) == 4


def test_a_reader_per_held_camera_while_it_is_held(world, reactor, config):
    assert reactor.spawned == []
    world.held.append("camera1000")
    reactor.advance(1)
    process = world.tap("camera1000")
    args = process.args
    assert process.guarded
    assert args[args.index("-skip_frame") + 1] == "nokey"
    assert args[args.index("-i") + 1] == f"rtsp://127.0.0.1:{config.mediamtx.rtsp_port}/camera1000?{QUERY}"
    assert args[args.index("-f") + 1] == "mpjpeg" and args[-1] == "pipe:1"
    assert world.live.tapped() == ["camera1000"]
    reactor.advance(1)
    assert len(reactor.spawned) == 1, "one reader, not one per check"
    world.held.remove("camera1000")
    reactor.advance(1)
    assert process.signals == ["KILL"]
    assert world.live.tapped() == [] and reactor.alive() == []


def test_the_latest_frame_while_it_is_fresh_enough(world, reactor):
    world.held.append("camera1000")
    reactor.advance(1)
    assert world.live.latest("camera1000") is None
    world.tap("camera1000").stdout(part())
    frame = world.live.latest("camera1000")
    assert frame.jpeg == JPEG and frame.source == "live" and frame.taken_at == reactor.seconds()
    reactor.advance(2.9)
    assert world.live.latest("camera1000") is frame
    reactor.advance(0.2)
    assert world.live.latest("camera1000") is None, "older than media.live_snapshot_max_age"
    assert world.live.latest("camera1001") is None


def test_a_capture_takes_the_live_frame_instead_of_running_ffmpeg(world, reactor, config):
    capture = FrameCapture(config.mediamtx, config.media, reactor, "i1-x", mediamtx_down=lambda: False,
                           run_blocking=None, live=world.live)
    world.held.append("camera1000")
    reactor.advance(1)
    world.tap("camera1000").stdout(part())
    spawned = len(reactor.spawned)
    frame = outcome(capture.capture(world.cameras["camera1000"]))
    assert frame.jpeg == JPEG and frame.source == "live"
    assert len(reactor.spawned) == spawned
    # without a fresh frame, a capture of its own
    reactor.advance(3.5)
    capture.capture(world.cameras["camera1000"])
    assert len(reactor.spawned) == spawned + 1
    capture_process = reactor.last()
    capture_process.stdout(JPEG)
    capture_process.exit(0)


def test_a_reader_that_keeps_dying_is_restarted_with_backoff(world, reactor):
    world.held.append("camera1000")
    reactor.advance(1)
    starts = []
    for _ in range(4):
        world.tap("camera1000").exit(1)
        starts.append(reactor.seconds())
        while not [p for p in reactor.alive()]:
            reactor.advance(1)
        starts[-1] = reactor.seconds() - starts[-1]
    assert starts == [1, 2, 4, 8]
    # a long run resets the backoff
    reactor.advance(20)
    world.tap("camera1000").exit(1)
    reactor.advance(1)
    assert world.live.tapped() == ["camera1000"]


def test_zero_max_age_keeps_no_reader(config, reactor, write_config):
    w = World(load_config(write_config({"media": {"live_snapshot_max_age": 0}})), reactor)
    w.held.append("camera1000")
    w.live.startService()
    reactor.advance(2)
    assert reactor.spawned == []
    outcome(w.live.stopService())
    assert reactor.getDelayedCalls() == []


def test_a_camera_that_cannot_be_read_gets_no_reader(world, reactor):
    world.held.append("camera4242")
    reactor.advance(1)
    assert reactor.spawned == []
