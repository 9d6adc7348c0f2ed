"""The stream URLs clients are given for a camera."""
from __future__ import annotations

from typing import Optional

from camservice.config.model import MediaMTXConfig, StreamsConfig

__all__ = ["StreamLocator"]

_ANY = ("0.0.0.0", "::", "")


class StreamLocator:
    """Builds ``{rtsp, hls, webrtc}`` URLs for a path.

    The host is ``streams.public_host``, else MediaMTX's ``media_host``
    (``127.0.0.1`` when that is a wildcard). A protocol that is off has no
    URL (``None``).
    """

    def __init__(self, mediamtx: MediaMTXConfig, streams: StreamsConfig):
        host = streams.public_host or (mediamtx.media_host if mediamtx.media_host not in _ANY else "127.0.0.1")
        self._host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self._config = mediamtx

    def urls(self, path: str) -> dict[str, Optional[str]]:
        c, h = self._config, self._host
        on = set(c.protocols)
        return {
            "rtsp": f"rtsp://{h}:{c.rtsp_port}/{path}",
            "hls": f"http://{h}:{c.hls_port}/{path}/index.m3u8" if "hls" in on else None,
            "webrtc": f"http://{h}:{c.webrtc_port}/{path}/whep" if "webrtc" in on else None,
        }

    def url(self, path: str) -> str:
        """The main stream URL (RTSP)."""
        return self.urls(path)["rtsp"]
