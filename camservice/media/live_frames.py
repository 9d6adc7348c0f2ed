"""The ``live-frames`` service: the latest keyframe of every held or
watched stream, so that a snapshot of a live camera answers at once.

A reader that joins a live H264 stream can decode nothing before the next
keyframe (MediaMTX keeps no GOP for RTSP readers), and camservice's own
sources make one every second: a one-shot capture of a live stream takes up
to that long. While a camera's stream is held (``start_streaming``, a
recording) or watched by a viewer, one FFmpeg reader per camera decodes only its keyframes
(``-skip_frame nokey``: a fraction of a full decode) and hands each over
as a JPEG (``mpjpeg`` parts on stdout); :meth:`LiveFrames.latest` gives
the newest one if it is at most ``media.live_snapshot_max_age`` seconds
old. It reads as camservice's keep-alive readers do (their query string),
so it is not counted as a viewer (nor as one by the stall watch, which
says which streams are watched), and it runs only while the stream is
held or watched anyway, so it keeps no source running that would
otherwise stop (for at most one check interval after the last viewer or
hold ends).
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Optional

from twisted.application import service
from twisted.internet import defer, error, protocol, task
from twisted.logger import Logger

from camservice.cameras.model import Camera
from camservice.children import ChildLedger, dies_with_parent
from camservice.config.model import MediaConfig, MediaMTXConfig
from camservice.media.capture import MAX_JPEG_BYTES, Frame
from camservice.mediamtx.sources import publish_url
from camservice.security.redact import redact_text
from camservice.supervisor import child_environment

__all__ = ["LiveFrames", "MultipartJPEG", "live_frames_argv"]

_LENGTH = re.compile(rb"(?im)^content-length:\s*([0-9]{1,9})\s*$")
#: seconds between a tap's quick deaths and its next start, doubling up to
#: the last
_BACKOFF = (1, 2, 4, 8, 16, 30)


class MultipartJPEG(protocol.ProcessProtocol):
    """FFmpeg's ``mpjpeg`` output split into JPEGs.

    :param on_frame: called with each whole JPEG.
    :ivar ended: fires with the ``processEnded`` reason's exception.
    """

    def __init__(self, on_frame: Callable[[bytes], None]):
        self._on_frame = on_frame
        self._buffer = bytearray()
        self.last_line = ""
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        while True:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self._buffer) > 4096 and b"\r\n\r\n" not in self._buffer[-4096:]:
                    self._buffer.clear()  # no part header in sight: resynchronise
                return
            match = _LENGTH.search(bytes(self._buffer[:head_end]))
            start = head_end + 4
            if match is None or int(match.group(1)) > MAX_JPEG_BYTES:
                del self._buffer[:start]
                continue
            end = start + int(match.group(1))
            if len(self._buffer) < end:
                return
            jpeg = bytes(self._buffer[start:end])
            del self._buffer[:end]
            if jpeg.startswith(b"\xff\xd8"):
                self._on_frame(jpeg)

    def errReceived(self, data: bytes) -> None:
        lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
        if lines:
            self.last_line = redact_text(lines[-1].strip())[:300]

    def processEnded(self, reason) -> None:
        self.ended.callback(reason.value)


def live_frames_argv(camera: Camera, mediamtx: MediaMTXConfig, quality: int, query: str) -> list[str]:
    """FFmpeg reading ``camera``'s path and writing each keyframe as a
    JPEG part of a ``multipart/x-mixed-replace`` stream to stdout."""
    size = []
    if camera.resolution and "x" in camera.resolution:
        width, height = camera.resolution.split("x", 1)
        if width.isdigit() and height.isdigit():
            size = ["-vf", f"scale={width}:{height}"]
    return [mediamtx.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
            "-skip_frame", "nokey", "-rtsp_transport", "tcp", "-i", publish_url(mediamtx, camera.id, query),
            "-an", *size, "-fps_mode", "passthrough", "-q:v", str(quality), "-f", "mpjpeg", "pipe:1"]


class _Tap:
    def __init__(self, proto: MultipartJPEG, transport, started_at: float):
        self.proto = proto
        self.transport = transport
        self.started_at = started_at
        self.frame: Optional[Frame] = None
        self.stopping = False


class LiveFrames(service.Service):
    """Keeps the latest keyframe of each held camera.

    :param held: ``() -> camera ids`` whose streams are held now (the
        stream manager's ``held``).
    :param camera: ``camera(camera_id) -> Camera`` or ``None`` when it
        cannot be read now.
    :param query: the readers' query string (the keep-alive readers',
        with the internal credential).
    :param interval: seconds between two looks at what is held.
    :param ledger: records each reader (a long-running child) so that a
        next start kills what a hard death left
        (:class:`camservice.children.ChildLedger`).
    """

    log = Logger(namespace="camservice.media.live_frames")

    def __init__(self, mediamtx: MediaMTXConfig, media: MediaConfig, reactor, held: Callable[[], Iterable[str]],
                 camera: Callable[[str], Optional[Camera]], query: str, interval: float = 1.0,
                 ledger: Optional[ChildLedger] = None):
        self.mediamtx = mediamtx
        self.media = media
        self._reactor = reactor
        self._held = held
        self._camera = camera
        self._query = query
        self._interval = interval
        self._ledger = ledger
        self._taps: dict[str, _Tap] = {}
        self._deaths: dict[str, tuple[int, float]] = {}  # camera -> (quick deaths, not before)
        self._loop: Optional[task.LoopingCall] = None

    def configure(self, mediamtx: MediaMTXConfig, media: MediaConfig) -> None:
        """Use these sections from the next check on (a reload)."""
        self.mediamtx, self.media = mediamtx, media

    def tapped(self) -> list[str]:
        """Cameras whose keyframes are being kept."""
        return sorted(self._taps)

    def latest(self, camera_id: str) -> Optional[Frame]:
        """The newest keyframe of ``camera_id`` if it is at most
        ``media.live_snapshot_max_age`` seconds old, else ``None``."""
        tap = self._taps.get(camera_id)
        max_age = self.media.live_snapshot_max_age
        if tap is None or tap.frame is None or max_age <= 0:
            return None
        if self._reactor.seconds() - tap.frame.taken_at > max_age:
            return None
        return tap.frame

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self._reactor
        self._loop.start(self._interval, now=True).addErrback(
            lambda f: self.log.failure("live frames check stopped", failure=f))

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        ended = [tap.proto.ended for tap in self._taps.values()]
        for camera_id in list(self._taps):
            self._stop(camera_id)
        if not ended:
            return defer.succeed(None)
        return defer.DeferredList(ended, consumeErrors=True).addTimeout(10, self._reactor)

    def check(self) -> None:
        """Start a tap for each newly held camera, stop those no longer
        held."""
        wanted = set(self._held()) if self.media.live_snapshot_max_age > 0 else set()
        for camera_id in list(self._taps):
            if camera_id not in wanted:
                self._stop(camera_id)
        now = self._reactor.seconds()
        for camera_id in sorted(wanted - set(self._taps)):
            if self._deaths.get(camera_id, (0, 0.0))[1] > now:
                continue
            camera = self._camera(camera_id)
            if camera is not None:
                self._start(camera)
        for camera_id in list(self._deaths):
            if camera_id not in wanted:
                del self._deaths[camera_id]

    def _start(self, camera: Camera) -> None:
        argv = dies_with_parent(live_frames_argv(camera, self.mediamtx, self.media.snapshot_quality, self._query))
        tap: Optional[_Tap] = None

        def on_frame(jpeg: bytes) -> None:
            if tap is not None:
                tap.frame = Frame(jpeg, self._reactor.seconds(), "live")

        proto = MultipartJPEG(on_frame)
        try:
            transport = self._reactor.spawnProcess(proto, argv[0], argv, env=child_environment())
        except OSError as e:
            self.log.error("cannot keep live frames of {camera_id}: {reason}", camera_id=camera.id,
                           reason=e.strerror)
            self._died(camera.id, quick=True)
            return
        tap = _Tap(proto, transport, self._reactor.seconds())
        self._taps[camera.id] = tap
        if self._ledger is not None:
            self._ledger.record(getattr(transport, "pid", None), "live-frames:" + camera.id, self.mediamtx.ffmpeg)
        proto.ended.addCallback(self._ended, camera.id, tap)

    def _stop(self, camera_id: str) -> None:
        tap = self._taps.get(camera_id)
        if tap is None or tap.stopping:
            return
        tap.stopping = True
        try:
            tap.transport.signalProcess("KILL")  # it holds nothing worth a clean exit
        except (error.ProcessExitedAlready, OSError):
            pass

    def _ended(self, reason, camera_id: str, tap: _Tap) -> None:
        if self._taps.get(camera_id) is tap:
            del self._taps[camera_id]
        if self._ledger is not None:
            self._ledger.forget(getattr(tap.transport, "pid", None))
        if not tap.stopping:
            self.log.warn("live frames of {camera_id} stopped: {reason}", camera_id=camera_id,
                          reason=tap.proto.last_line or f"status {getattr(reason, 'exitCode', None)}")
            self._died(camera_id, quick=self._reactor.seconds() - tap.started_at < 10)

    def _died(self, camera_id: str, quick: bool) -> None:
        count = self._deaths.get(camera_id, (0, 0.0))[0] + 1 if quick else 0
        delay = _BACKOFF[min(count, len(_BACKOFF)) - 1] if count else 0
        self._deaths[camera_id] = (count, self._reactor.seconds() + delay)
