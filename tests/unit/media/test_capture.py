"""One-frame captures on a fake process reactor: overlapping captures of
a camera share one FFmpeg run, a run that hangs is killed at the timeout,
FFmpeg's last words become the error (credentials redacted), and the
source is the device only when MediaMTX is down."""
from __future__ import annotations

import pytest
from twisted.internet import defer

from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.config import load_config
from camservice.media.capture import FrameCapture, capture_argv
from camservice.media.errors import CaptureFailed
from camservice.mediamtx.errors import MediaMTXUnavailable
from fakes.process_reactor import FakeProcessReactor
from helpers.deferreds import fails_with, has_no_result, outcome

JPEG = b"\xff\xd8" + b"picture" * 10 + b"\xff\xd9"
CREDENTIAL = "i1-0123456789abcdef0123456789abcdef"

VIRTUAL = Camera("camera1000", CameraKind.VIRTUAL, "Pattern", CameraStatus.CONNECTED, "320x240", 10)
USB = Camera("camera0", CameraKind.USB, "Webcam", CameraStatus.CONNECTED, "640x480", 30,
             source="/dev/video0", input_format="MJPG")


@pytest.fixture
def reactor():
    return FakeProcessReactor(now=1_700_000_000)


@pytest.fixture
def config(write_config):
    return load_config(write_config({"media": {"snapshot_timeout": 5, "snapshot_quality": 4}}))


class _Capture:
    def __init__(self, config, reactor):
        self.down = False
        self.busy: set = set()
        self.capture = FrameCapture(
            config.mediamtx, config.media, reactor, CREDENTIAL, mediamtx_down=lambda: self.down,
            run_blocking=lambda f, *a: defer.maybeDeferred(f, *a), in_use=lambda device: device in self.busy,
        )


@pytest.fixture
def capturing(config, reactor):
    return _Capture(config, reactor)


def test_overlapping_captures_of_one_camera_share_one_ffmpeg_run(capturing, reactor):
    first = capturing.capture.capture(VIRTUAL)
    second = capturing.capture.capture(VIRTUAL)
    assert len(reactor.spawned) == 1
    process = reactor.last()
    assert process.guarded, "the capture dies with camservice"
    process.stdout(JPEG[:10])
    process.stdout(JPEG[10:])
    process.exit(0)
    a, b = outcome(first), outcome(second)
    assert a.jpeg == b.jpeg == JPEG and a.source == "mediamtx"
    assert a.taken_at == reactor.seconds()
    # the next capture is a run of its own
    capturing.capture.capture(VIRTUAL)
    assert len(reactor.spawned) == 2


def test_other_cameras_capture_in_parallel(capturing, reactor):
    capturing.capture.capture(VIRTUAL)
    capturing.capture.capture(VIRTUAL.replace(id="camera1001"))
    assert len(reactor.alive()) == 2


def test_reads_the_rtsp_path_over_tcp_as_the_internal_reader(capturing, reactor, config):
    capturing.capture.capture(VIRTUAL)
    args = reactor.last().args
    assert args[0] == config.mediamtx.ffmpeg
    url = args[args.index("-i") + 1]
    assert url == (f"rtsp://127.0.0.1:{config.mediamtx.rtsp_port}/camera1000"
                   f"?camservice=snapshot&token={CREDENTIAL}")
    assert args[args.index("-rtsp_transport") + 1] == "tcp"
    assert args[args.index("-frames:v") + 1] == "1"
    assert args[args.index("-vf") + 1] == "scale=320:240"
    assert args[args.index("-q:v") + 1] == "4"
    assert args[-1] == "pipe:1"
    assert "CAMSERVICE" not in " ".join(reactor.last().env)


def test_a_run_that_hangs_is_killed_at_the_timeout(capturing, reactor):
    d = capturing.capture.capture(VIRTUAL)
    process = reactor.last()
    process.ignores_kill = True  # until the kernel reaps it
    reactor.advance(4.9)
    assert has_no_result(d) and process.signals == []
    reactor.advance(0.2)
    assert process.signals == ["KILL"]
    assert has_no_result(d), "the error comes once FFmpeg has exited"
    process.exit(None, 9)
    error = fails_with(d, CaptureFailed)
    assert error.detail == "no frame within 5 s"
    assert not reactor.alive() and reactor.getDelayedCalls() == []


def test_ffmpeg_last_words_are_the_error_with_credentials_redacted(capturing, reactor):
    d = capturing.capture.capture(VIRTUAL)
    process = reactor.last()
    process.stderr(b"first complaint\n")
    process.stderr(f"rtsp://127.0.0.1:8554/camera1000?camservice=snapshot&token={CREDENTIAL}: "
                   "Server returned 404 Not Found\n".encode())
    process.exit(1)
    error = fails_with(d, CaptureFailed)
    assert CREDENTIAL not in error.detail
    assert error.detail.endswith("Server returned 404 Not Found")
    assert "token=***" in error.detail
    assert reactor.getDelayedCalls() == []


@pytest.mark.parametrize("written, status, detail", [
    (b"", 0, "ffmpeg wrote no picture"),
    (b"not a jpeg", 0, "ffmpeg wrote no picture"),
    (JPEG[:-2], 0, "ffmpeg wrote no picture"),
    (b"", 3, "ffmpeg exited with status 3"),
])
def test_no_whole_jpeg_is_a_failure(capturing, reactor, written, status, detail):
    d = capturing.capture.capture(VIRTUAL)
    reactor.last().stdout(written)
    reactor.last().exit(status)
    assert fails_with(d, CaptureFailed).detail == detail


def test_cannot_start_ffmpeg(capturing, reactor):
    reactor.spawn_error = OSError(2, "No such file or directory")
    error = fails_with(capturing.capture.capture(VIRTUAL), CaptureFailed)
    assert error.detail == "cannot run ffmpeg: No such file or directory"
    assert reactor.getDelayedCalls() == []


def test_the_last_caller_to_leave_kills_ffmpeg(capturing, reactor):
    first = capturing.capture.capture(VIRTUAL)
    second = capturing.capture.capture(VIRTUAL)
    process = reactor.last()
    first.cancel()
    fails_with(first, defer.CancelledError)
    assert process.signals == []
    second.cancel()
    fails_with(second, defer.CancelledError)
    assert process.signals == ["KILL"]
    reactor.advance(0)
    assert not reactor.alive() and reactor.getDelayedCalls() == []


def test_usb_camera_is_read_from_the_device_while_mediamtx_is_down(capturing, reactor):
    capturing.down = True
    d = capturing.capture.capture(USB)
    args = reactor.last().args
    assert args[args.index("-f") + 1] == "v4l2"
    assert args[args.index("-input_format") + 1] == "mjpeg"
    assert args[args.index("-video_size") + 1] == "640x480"
    assert args[args.index("-i") + 1] == "/dev/video0"
    assert not any(a.startswith("rtsp://") for a in args)
    reactor.last().stdout(JPEG)
    reactor.last().exit(0)
    assert outcome(d).source == "device"


def test_a_busy_device_is_left_alone(capturing, reactor):
    capturing.down = True
    capturing.busy.add("/dev/video0")
    error = fails_with(capturing.capture.capture(USB), CaptureFailed)
    assert "in use" in error.detail
    assert reactor.spawned == []


def test_other_cameras_need_mediamtx(capturing, reactor):
    capturing.down = True
    fails_with(capturing.capture.capture(VIRTUAL), MediaMTXUnavailable)
    assert reactor.spawned == []


def test_stopping_kills_captures_in_progress(capturing, reactor):
    capturing.capture.startService()
    d = capturing.capture.capture(VIRTUAL)
    stopped = capturing.capture.stopService()
    assert reactor.last().signals == ["KILL"]
    assert has_no_result(stopped)
    reactor.advance(0)
    assert outcome(stopped) is not None
    fails_with(d, CaptureFailed)
    assert reactor.getDelayedCalls() == []


def test_argv_without_a_known_resolution_does_not_scale(config):
    argv = capture_argv(VIRTUAL.replace(resolution=""), config.mediamtx, 3)
    assert "-vf" not in argv
    assert "token=" not in " ".join(argv)
