"""What feeds each camera's MediaMTX path: the path configuration.

Every camera is a path named by its id. A virtual camera is an FFmpeg
``lavfi`` test pattern encoded to H264 and published over RTSP; a network
camera is pulled by MediaMTX itself from its URL. Sources run on demand:
while someone reads the path, plus ``on_demand_close_after`` seconds (a
stream that must keep running is held open by a reader, see
:mod:`camservice.mediamtx.holders`).
"""
from __future__ import annotations

import re
import shlex

from camservice.cameras.model import Camera, CameraKind
from camservice.children import dies_with_parent
from camservice.config.model import MediaMTXConfig

__all__ = ["OWNED_PATH", "WILDCARDS", "encoder_args", "path_conf", "publish_url", "rtsp_host", "v4l2_input_args"]

#: MediaMTX paths camservice owns: one per camera, named by its id. Paths
#: with other names are never touched.
OWNED_PATH = re.compile(r"^camera[0-9]+$")


#: bind addresses meaning "every interface"
WILDCARDS = ("0.0.0.0", "::", "")


def rtsp_host(config: MediaMTXConfig) -> str:
    """Where processes on this machine reach MediaMTX's RTSP server: the
    address it listens on when that is a single one (managed mode), else
    ``mediamtx.host``."""
    if config.mode == "managed" and config.media_host not in WILDCARDS:
        return config.media_host
    return config.host


def publish_url(config: MediaMTXConfig, path: str, query: str | None = None) -> str:
    """MediaMTX's RTSP URL of ``path``, seen from this machine (where
    sources publish and keep-alive readers read), with ``query`` (which
    carries their credential: MediaMTX hands it to camservice's auth
    callback)."""
    host = rtsp_host(config)
    host = f"[{host}]" if ":" in host else host
    url = f"rtsp://{host}:{config.rtsp_port}/{path}"
    return url + "?" + query if query else url


def encoder_args(config: MediaMTXConfig, fps: int, encoder: str | None = None) -> list[str]:
    """FFmpeg arguments that encode to H264 with ``encoder`` (default: the
    configured one); libx264 is tuned for latency.

    A keyframe every second: a viewer joining, a snapshot of a stream
    nobody holds, and a recording starting on a live stream each wait for
    the next keyframe, so that is at most 1 s.
    """
    encoder = encoder or config.encoder
    gop = str(max(1, fps))
    if encoder == "libx264":
        return ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", gop]
    return ["-c:v", encoder, "-g", gop]


def _source_query(secret: str | None) -> str | None:
    return "token=" + secret if secret else None


def _virtual_command(camera: Camera, config: MediaMTXConfig, secret: str | None) -> str:
    pattern = f"testsrc2=size={camera.resolution}:rate={camera.fps}"
    argv = (
        [config.ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", pattern]
        + encoder_args(config, camera.fps)
        + ["-f", "rtsp", "-rtsp_transport", "tcp", publish_url(config, camera.id, _source_query(secret))]
    )
    return shlex.join(dies_with_parent(argv))


#: V4L2 fourcc -> FFmpeg's v4l2 ``-input_format`` name
FFMPEG_INPUT_FORMATS = {
    "MJPG": "mjpeg", "JPEG": "mjpeg", "H264": "h264", "YUYV": "yuyv422", "UYVY": "uyvy422",
    "NV12": "nv12", "YU12": "yuv420p", "YV12": "yuv420p", "RGB3": "rgb24", "BGR3": "bgr24", "GREY": "gray",
}


def v4l2_input_args(camera: Camera) -> list[str]:
    """FFmpeg arguments that read a USB camera's device in its mode."""
    argv = ["-f", "v4l2"]
    if camera.input_format in FFMPEG_INPUT_FORMATS:
        argv += ["-input_format", FFMPEG_INPUT_FORMATS[camera.input_format]]
    if camera.resolution and "x" in camera.resolution:
        argv += ["-video_size", camera.resolution]
    if camera.fps:
        argv += ["-framerate", str(camera.fps)]
    return argv + ["-i", camera.source]


def _usb_command(camera: Camera, config: MediaMTXConfig, secret: str | None) -> str:
    argv = [config.ffmpeg, "-hide_banner", "-loglevel", "error"] + v4l2_input_args(camera)
    if camera.input_format == "H264":
        argv += ["-c:v", "copy"]  # the camera encodes: pass it through
    else:
        argv += encoder_args(config, camera.fps or 30, camera.encoder)
    argv += ["-f", "rtsp", "-rtsp_transport", "tcp", publish_url(config, camera.id, _source_query(secret))]
    return shlex.join(dies_with_parent(argv))


def path_conf(camera: Camera, config: MediaMTXConfig, publish_secret: str | None = None) -> dict:
    """The MediaMTX path configuration (``PathConf``) for ``camera``.

    :param publish_secret: what the camera's source presents to publish
        (camservice's auth callback admits no other publisher); stable, so
        the configuration is too.

    :raises ValueError: for a kind of camera that has no source yet.
    """
    close_after = f"{config.on_demand_close_after}s"
    start_timeout = f"{config.source_start_timeout}s"
    if camera.kind is CameraKind.NETWORK:
        return {
            "source": camera.source,
            "sourceOnDemand": True,
            "sourceOnDemandStartTimeout": start_timeout,
            "sourceOnDemandCloseAfter": close_after,
            "rtspTransport": "tcp",
        }
    if camera.kind in (CameraKind.VIRTUAL, CameraKind.USB):
        make = _usb_command if camera.kind is CameraKind.USB else _virtual_command
        command = make(camera, config, publish_secret)
        return {
            "source": "publisher",
            # while the source publishes, nobody can take the path over
            # (its command line, secret included, is visible in the
            # process list)
            "overridePublisher": False,
            "runOnInit": "",
            "runOnInitRestart": False,
            "runOnDemand": command,
            "runOnDemandRestart": True,
            "runOnDemandStartTimeout": start_timeout,
            "runOnDemandCloseAfter": close_after,
        }
    raise ValueError(f"no MediaMTX source for {camera.kind.value} cameras")
