"""Asking a network stream what it carries, with ``ffprobe``."""
from __future__ import annotations

import json
from typing import Optional

from camservice.procutil import ProcessFailed, run_checked

__all__ = ["StreamUnreachable", "probe_stream"]


class StreamUnreachable(Exception):
    """The stream could not be opened or read; ``str()`` says why."""


def _fps(rate: Optional[str]) -> Optional[float]:
    try:
        num, _, den = (rate or "").partition("/")
        return round(float(num) / float(den or 1), 2) if float(den or 1) else None
    except ValueError:
        return None


async def probe_stream(reactor, url: str, timeout: float, ffprobe: str = "ffprobe") -> dict:
    """The first video stream of ``url``.

    :returns: ``{codec, width, height, fps}`` (values may be ``None``).
    :raises StreamUnreachable: not reachable, no video, or no answer within
        ``timeout`` seconds.
    """
    argv = [ffprobe, "-v", "error", "-print_format", "json", "-show_streams", "-select_streams", "v:0"]
    if url.startswith(("rtsp://", "rtsps://")):
        argv += ["-rtsp_transport", "tcp"]
    argv += ["-rw_timeout", str(int(timeout * 1_000_000)), url]
    try:
        out = await run_checked(reactor, argv, timeout + 1)
    except ProcessFailed as e:
        raise StreamUnreachable(str(e))
    try:
        streams = json.loads(out).get("streams") or []
    except ValueError:
        raise StreamUnreachable("unreadable ffprobe output")
    if not streams:
        raise StreamUnreachable("no video stream")
    video = streams[0]
    return {
        "codec": video.get("codec_name"),
        "width": video.get("width"),
        "height": video.get("height"),
        "fps": _fps(video.get("avg_frame_rate")) or _fps(video.get("r_frame_rate")),
    }
