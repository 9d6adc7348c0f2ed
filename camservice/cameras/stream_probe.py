"""Asking a network stream what it carries, with ``ffprobe``.

ffprobe runs with ``-protocol_whitelist`` fit for the URL's scheme, so a
playlist or a redirect cannot make it open local files or other
protocols. Its failures are reported to clients in one neutral text (a
"connection refused" that differs from "invalid data" would make the API
a port scanner); the full reason, redacted, is kept for the log.
"""
from __future__ import annotations

import json
from typing import Optional

from camservice.procutil import ProcessFailed, run_checked
from camservice.security.redact import redact_text

__all__ = ["PROTOCOLS", "UNREACHABLE", "StreamUnreachable", "probe_stream"]

#: what clients are told when a stream cannot be opened or read, whatever
#: the reason
UNREACHABLE = "the stream could not be opened or read"

#: ffmpeg protocols each scheme may use (nested opens included)
PROTOCOLS = {
    "rtsp": "rtsp,rtp,tcp,udp",
    "rtsps": "rtsps,rtsp,rtp,tcp,udp,tls",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tcp,tls",
    "srt": "srt,udp",
    "http": "http,tcp,hls,crypto",
    "https": "https,http,tcp,tls,hls,crypto",
}


class StreamUnreachable(Exception):
    """The stream could not be opened or read.

    ``str()`` is fit for a client (never tells one failure from another);
    :attr:`detail` is the full reason, redacted, for the log.
    """

    def __init__(self, public: str, detail: Optional[str] = None):
        super().__init__(public)
        self.detail = detail or public


def _fps(rate: Optional[str]) -> Optional[float]:
    try:
        num, _, den = (rate or "").partition("/")
        return round(float(num) / float(den or 1), 2) if float(den or 1) else None
    except ValueError:
        return None


def ffprobe_argv(url: str, timeout: float, ffprobe: str = "ffprobe") -> list[str]:
    """The ffprobe command line for ``url`` (scheme already checked)."""
    scheme = url.split("://", 1)[0].lower()
    argv = [ffprobe, "-v", "error", "-protocol_whitelist", PROTOCOLS[scheme],
            "-print_format", "json", "-show_streams", "-select_streams", "v:0"]
    if scheme in ("rtsp", "rtsps"):
        argv += ["-rtsp_transport", "tcp"]
    return argv + ["-rw_timeout", str(int(timeout * 1_000_000)), "--", url]


async def probe_stream(reactor, url: str, timeout: float, ffprobe: str = "ffprobe") -> dict:
    """The first video stream of ``url``.

    :returns: ``{codec, width, height, fps}`` (values may be ``None``).
    :raises StreamUnreachable: not reachable, no video, or no answer within
        ``timeout`` seconds.
    """
    try:
        out = await run_checked(reactor, ffprobe_argv(url, timeout, ffprobe), timeout + 1)
    except ProcessFailed as e:
        raise StreamUnreachable(UNREACHABLE, redact_text(str(e)))
    try:
        streams = json.loads(out).get("streams") or []
    except ValueError:
        raise StreamUnreachable(UNREACHABLE, "unreadable ffprobe output")
    if not streams:
        raise StreamUnreachable("no video stream")
    video = streams[0]
    return {
        "codec": video.get("codec_name"),
        "width": video.get("width"),
        "height": video.get("height"),
        "fps": _fps(video.get("avg_frame_rate")) or _fps(video.get("r_frame_rate")),
    }
