"""What feeds each camera's MediaMTX path: the path configuration.

Every camera is a path named by its id. A virtual camera is an FFmpeg
``lavfi`` test pattern encoded to H264 and published over RTSP; a network
camera is pulled by MediaMTX itself from its URL. By default sources run on
demand (while someone reads, plus ``on_demand_close_after``); a camera that
is explicitly streaming (``start_streaming``) runs always.
"""
from __future__ import annotations

import re
import shlex

from camservice.cameras.model import Camera, CameraKind
from camservice.config.model import MediaMTXConfig

__all__ = ["OWNED_PATH", "encoder_args", "path_conf", "publish_url"]

#: MediaMTX paths camservice owns: one per camera, named by its id. Paths
#: with other names are never touched.
OWNED_PATH = re.compile(r"^camera[0-9]+$")


def publish_url(config: MediaMTXConfig, path: str) -> str:
    """Where a source publishes: MediaMTX's RTSP server, seen from here."""
    host = f"[{config.host}]" if ":" in config.host else config.host
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


def path_conf(camera: Camera, config: MediaMTXConfig, always_on: bool = False) -> dict:
    """The MediaMTX path configuration (``PathConf``) for ``camera``.

    :param always_on: run the source now and keep it running
        (``start_streaming``), instead of on demand.
    :raises ValueError: for a kind of camera that has no source yet.
    """
    close_after = f"{config.on_demand_close_after}s"
    start_timeout = f"{config.source_start_timeout}s"
    if camera.kind is CameraKind.NETWORK:
        return {
            "source": camera.source,
            "sourceOnDemand": not always_on,
            "sourceOnDemandStartTimeout": start_timeout,
            "sourceOnDemandCloseAfter": close_after,
            "rtspTransport": "tcp",
        }
    if camera.kind is CameraKind.VIRTUAL:
        command = _virtual_command(camera, config)
        if always_on:
            return {"source": "publisher", "runOnInit": command, "runOnInitRestart": True,
                    "runOnDemand": "", "runOnDemandRestart": False}
        return {
            "source": "publisher",
            "runOnInit": "",
            "runOnInitRestart": False,
            "runOnDemand": command,
            "runOnDemandRestart": True,
            "runOnDemandStartTimeout": start_timeout,
            "runOnDemandCloseAfter": close_after,
        }
    raise ValueError(f"no MediaMTX source for {camera.kind.value} cameras")
