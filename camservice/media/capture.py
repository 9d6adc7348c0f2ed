"""One frame of a camera as a JPEG, captured by FFmpeg.

The frame is read from the camera's RTSP path on MediaMTX (reading it
starts the on-demand source if nothing runs it), as camservice's internal
reader. When MediaMTX is down and the camera is a USB device nobody has
open, it is read straight from the device instead.

FFmpeg writes the JPEG to its standard output: the caller decides whether
it becomes a file (snapshots) or an HTTP response (still images), so a
failed capture never leaves anything on disk. Captures of one camera that
overlap share one FFmpeg run; each caller gets a Deferred of its own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from camservice.cameras.model import Camera, CameraKind
from camservice.children import dies_with_parent
from camservice.config.model import MediaConfig, MediaMTXConfig
from camservice.media.errors import CaptureFailed
from camservice.mediamtx.errors import MediaMTXUnavailable
from camservice.mediamtx.sources import publish_url, v4l2_input_args
from camservice.security.redact import redact_text
from camservice.supervisor import child_environment

__all__ = ["CAPTURE_QUERY", "Frame", "FrameCapture", "device_in_use", "capture_argv"]

#: the query string of a capture's RTSP read (the internal credential is
#: appended): MediaMTX's session list tells it apart from viewers and from
#: the keep-alive readers
CAPTURE_QUERY = "camservice=snapshot"

#: the most bytes one JPEG may have (a 4K frame at the best quality is a
#: few MB)
MAX_JPEG_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Frame:
    """One captured picture.

    :ivar jpeg: the JPEG file's bytes.
    :ivar taken_at: POSIX time FFmpeg delivered it.
    :ivar source: ``mediamtx``, ``device`` (read straight from it) or
        ``live`` (the latest keyframe of a held stream).
    """

    jpeg: bytes
    taken_at: float
    source: str


class _OneFrame(protocol.ProcessProtocol):
    """One FFmpeg run: the JPEG on stdout (capped), stderr's last line.

    :ivar ended: fires with the ``processEnded`` reason's exception, never
        fails.
    """

    def __init__(self) -> None:
        self.out = bytearray()
        self.too_big = False
        self.last_line = ""
        self._err = b""
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        if len(self.out) + len(data) > MAX_JPEG_BYTES:
            self.too_big = True
            return
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self._err = (self._err + data)[-4096:]
        lines = [line for line in self._err.decode("utf-8", "replace").splitlines() if line.strip()]
        if lines:
            self.last_line = redact_text(lines[-1].strip())[:300]

    def processEnded(self, reason) -> None:
        self.ended.callback(reason.value)


def _jpeg_args(camera: Camera, quality: int) -> list[str]:
    size = []
    if camera.resolution and "x" in camera.resolution:
        width, height = camera.resolution.split("x", 1)
        if width.isdigit() and height.isdigit():
            size = ["-vf", f"scale={width}:{height}"]
    return ["-frames:v", "1", "-an", *size, "-q:v", str(quality), "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"]


def capture_argv(
    camera: Camera,
    mediamtx: MediaMTXConfig,
    quality: int,
    credential: Optional[str] = None,
    from_device: bool = False,
) -> list[str]:
    """FFmpeg's command line for one JPEG of ``camera`` on stdout, in the
    camera's configured resolution.

    :param credential: the internal readers' credential (MediaMTX asks
        camservice's auth callback about every read).
    :param from_device: read the V4L2 device instead of MediaMTX.
    """
    argv = [mediamtx.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
    if from_device:
        argv += v4l2_input_args(camera)
    else:
        query = CAPTURE_QUERY + ("&token=" + credential if credential else "")
        # the parameters come with the SDP: no need to wait for more than
        # the first picture before decoding
        argv += ["-analyzeduration", "0", "-probesize", "32768", "-rtsp_transport", "tcp",
                 "-i", publish_url(mediamtx, camera.id, query)]
    return argv + _jpeg_args(camera, quality)


def device_in_use(device: str, proc: str = "/proc") -> bool:
    """Whether a process this user may inspect has ``device`` open
    (blocking: run it in a thread)."""
    try:
        target = os.path.realpath(device)
        pids = [p for p in os.listdir(proc) if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return False
    for pid in pids:
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(fd_dir, fd)) == target:
                    return True
            except OSError:
                continue
    return False


class _Shared:
    """One FFmpeg run and the callers waiting for its frame."""

    def __init__(self) -> None:
        self.waiters: list[defer.Deferred] = []
        self.transport = None
        self.done = False

    def settle(self, outcome) -> None:
        """Hand the frame (or the Failure) to every waiter."""
        self.done = True
        waiters, self.waiters = self.waiters, []
        for d in waiters:
            if not d.called:
                if isinstance(outcome, Failure):
                    d.errback(outcome)
                else:
                    d.callback(outcome)


class FrameCapture(service.Service):
    """Captures JPEG frames of cameras, one FFmpeg run per camera at a time.

    :param mediamtx: the ``mediamtx`` section (RTSP port, ``ffmpeg``).
    :param media: the ``media`` section (``snapshot_timeout``,
        ``snapshot_quality``).
    :param reactor: ``IReactorProcess`` and ``IReactorTime``.
    :param credential: the internal readers' credential, or ``None``.
    :param mediamtx_down: ``() -> bool``: whether MediaMTX is down (the
        controller's health), so that USB cameras are read directly.
    :param run_blocking: ``run_blocking(f, *args) -> Deferred`` for the
        check that a device is free.
    :param live: answers from the latest keyframe of a held stream when
        it has a recent one (:class:`camservice.media.live_frames.LiveFrames`,
        its ``latest(camera_id) -> Frame or None``); ``None``: always a
        capture of its own.
    """

    log = Logger(namespace="camservice.media.capture")

    def __init__(
        self,
        mediamtx: MediaMTXConfig,
        media: MediaConfig,
        reactor,
        credential: Optional[str],
        mediamtx_down: Callable[[], bool],
        run_blocking: Callable,
        in_use: Callable[[str], bool] = device_in_use,
        live=None,
    ):
        self.mediamtx = mediamtx
        self.media = media
        self._reactor = reactor
        self._credential = credential
        self._mediamtx_down = mediamtx_down
        self._run_blocking = run_blocking
        self._in_use = in_use
        self._live = live
        #: camera id -> the run in progress
        self._runs: dict[str, _Shared] = {}
        self._ending: set[defer.Deferred] = set()

    def configure(self, mediamtx: MediaMTXConfig, media: MediaConfig) -> None:
        """Capture with these sections from the next run on (a reload)."""
        self.mediamtx, self.media = mediamtx, media

    def running_captures(self) -> list[str]:
        """Cameras with an FFmpeg run in progress."""
        return sorted(self._runs)

    def capture(self, camera: Camera) -> defer.Deferred:
        """One JPEG of ``camera``.

        :returns: a Deferred firing with a :class:`Frame`; failing with
            :class:`CaptureFailed` (FFmpeg failed, wrote no picture, or
            none came within ``media.snapshot_timeout`` seconds: it was
            killed), or :class:`MediaMTXUnavailable` (MediaMTX is down and
            the camera cannot be read directly). Cancelling it leaves the
            run to the other callers; the last one to go kills FFmpeg.
        """
        if self._live is not None:
            frame = self._live.latest(camera.id)
            if frame is not None:
                return defer.succeed(frame)
        shared = self._runs.get(camera.id)
        if shared is None:
            shared = self._runs[camera.id] = _Shared()
            d = self._join(camera.id, shared)
            ended = defer.ensureDeferred(self._run(camera, shared))
            self._ending.add(ended)
            ended.addBoth(self._finished, camera.id, shared, ended)
            return d
        return self._join(camera.id, shared)

    def _join(self, camera_id: str, shared: _Shared) -> defer.Deferred:
        def cancelled(d: defer.Deferred) -> None:
            if d in shared.waiters:
                shared.waiters.remove(d)
            if not shared.waiters and not shared.done and shared.transport is not None:
                self._kill(shared.transport)

        d: defer.Deferred = defer.Deferred(cancelled)
        shared.waiters.append(d)
        return d

    def _finished(self, outcome, camera_id: str, shared: _Shared, ended: defer.Deferred) -> None:
        self._ending.discard(ended)
        if self._runs.get(camera_id) is shared:
            del self._runs[camera_id]
        shared.settle(outcome)

    async def _run(self, camera: Camera, shared: _Shared) -> Frame:
        from_device = False
        if self._mediamtx_down():
            if camera.kind is not CameraKind.USB or not camera.source:
                raise MediaMTXUnavailable("MediaMTX is down")
            if await self._run_blocking(self._in_use, camera.source):
                raise CaptureFailed(camera.id, "MediaMTX is down and the device is in use")
            from_device = True
        argv = capture_argv(camera, self.mediamtx, self.media.snapshot_quality, self._credential, from_device)
        timeout = self.media.snapshot_timeout
        proto = _OneFrame()
        guarded = dies_with_parent(argv)
        try:
            shared.transport = self._reactor.spawnProcess(proto, guarded[0], guarded, env=child_environment())
        except OSError as e:
            raise CaptureFailed(camera.id, f"cannot run {os.path.basename(argv[0])}: {e.strerror}")
        if not shared.waiters:  # everyone left before it started
            self._kill(shared.transport)
        expired = []

        def too_late() -> None:
            expired.append(True)
            self._kill(shared.transport)

        timer = self._reactor.callLater(timeout, too_late)
        try:
            reason = await proto.ended
        finally:
            if timer.active():
                timer.cancel()
        timed_out = bool(expired)
        return self._outcome(camera, proto, reason, timeout, timed_out, "device" if from_device else "mediamtx")

    def _outcome(self, camera: Camera, proto: _OneFrame, reason, timeout: float, timed_out: bool,
                 source: str) -> Frame:
        status = getattr(reason, "exitCode", None)
        jpeg = bytes(proto.out)
        if timed_out:
            detail = f"no frame within {timeout:g} s"
            raise CaptureFailed(camera.id, detail + (f" ({proto.last_line})" if proto.last_line else ""))
        if proto.too_big:
            raise CaptureFailed(camera.id, f"the picture is larger than {MAX_JPEG_BYTES} bytes")
        if status != 0 or not jpeg.startswith(b"\xff\xd8") or not jpeg.rstrip(b"\x00").endswith(b"\xff\xd9"):
            if proto.last_line:
                detail = proto.last_line
            elif status is None:
                detail = f"ffmpeg was killed by signal {getattr(reason, 'signal', None)}"
            elif status != 0:
                detail = f"ffmpeg exited with status {status}"
            else:
                detail = "ffmpeg wrote no picture"
            raise CaptureFailed(camera.id, detail)
        return Frame(jpeg, self._reactor.seconds(), source)

    def _kill(self, transport) -> None:
        try:
            transport.signalProcess("KILL")
        except (error.ProcessExitedAlready, OSError):
            pass

    def stopService(self):
        """Kill every capture in progress; fires once all have exited."""
        super().stopService()
        for shared in list(self._runs.values()):
            if shared.transport is not None:
                self._kill(shared.transport)
        pending = list(self._ending)
        if not pending:
            return defer.succeed(None)
        return defer.DeferredList(pending, consumeErrors=True).addTimeout(10, self._reactor)
