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
from camservice.config.model import MediaMTXConfig

__all__ = ["OWNED_PATH", "WILDCARDS", "encoder_args", "path_conf", "publish_url", "rtsp_host"]

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


def publish_url(config: MediaMTXConfig, path: str) -> str:
    """MediaMTX's RTSP URL of ``path``, seen from this machine (where
    sources publish and keep-alive readers read)."""
    host = rtsp_host(config)
    host = f"[{host}]" if ":" in host else host
    return f"rtsp://{host}:{config.rtsp_port}/{path}"


def encoder_args(config: MediaMTXConfig, fps: int) -> list[str]:
    """FFmpeg arguments that encode to H264 with the configured encoder."""
    gop = str(max(1, fps * 2))
    if config.encoder == "libx264":
        return ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", gop]
    return ["-c:v", config.encoder, "-g", gop]


def _virtual_command(camera: Camera, config: MediaMTXConfig) -> str:
    pattern = f"testsrc2=size={camera.resolution}:rate={camera.fps}"
    argv = (
        [config.ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", pattern]
        + encoder_args(config, camera.fps)
        + ["-f", "rtsp", "-rtsp_transport", "tcp", publish_url(config, camera.id)]
    )
    return shlex.join(argv)


def path_conf(camera: Camera, config: MediaMTXConfig) -> dict:
    """The MediaMTX path configuration (``PathConf``) for ``camera``.

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
    if camera.kind is CameraKind.VIRTUAL:
        return {
            "source": "publisher",
            "runOnInit": "",
            "runOnInitRestart": False,
            "runOnDemand": _virtual_command(camera, config),
            "runOnDemandRestart": True,
            "runOnDemandStartTimeout": start_timeout,
            "runOnDemandCloseAfter": close_after,
        }
    raise ValueError(f"no MediaMTX source for {camera.kind.value} cameras")
