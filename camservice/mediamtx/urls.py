"""The stream URLs clients are given for a camera."""
from __future__ import annotations

from typing import Optional

from camservice.config.model import MediaMTXConfig, StreamsConfig
from camservice.streamauth.tokens import StreamTokens

__all__ = ["StreamLocator"]

_ANY = ("0.0.0.0", "::", "")


class StreamLocator:
    """Builds ``{rtsp, hls, webrtc}`` URLs for a path.

    The host is ``streams.public_host``, else MediaMTX's ``media_host``
    (``127.0.0.1`` when that is a wildcard). A protocol that is off has no
    URL (``None``). With signed URLs on, each URL carries the camera's
    current read token as ``?token=...``, which players pass on as given:
    RTSP clients in the DESCRIBE URL, HLS players in every playlist request
    (MediaMTX repeats the query in the playlists it serves), WHEP clients
    in the POST.

    :param tokens: mints read tokens; ``None`` when reads need none.
    """

    def __init__(self, mediamtx: MediaMTXConfig, streams: StreamsConfig, tokens: Optional[StreamTokens] = None):
        self._tokens = tokens
        self._generation = 0
        self.configure(mediamtx, streams)

    @property
    def tokens(self) -> Optional[StreamTokens]:
        return self._tokens

    @tokens.setter
    def tokens(self, tokens: Optional[StreamTokens]) -> None:
        """Sign URLs with ``tokens`` from now on (``None``: unsigned)."""
        if tokens is not self._tokens:
            self._tokens = tokens
            self._generation += 1

    def configure(self, mediamtx: MediaMTXConfig, streams: StreamsConfig) -> None:
        """Build URLs from these sections from now on (a reload: MediaMTX's
        ports, protocols and host, ``streams.public_host``)."""
        host = streams.public_host or (mediamtx.media_host if mediamtx.media_host not in _ANY else "127.0.0.1")
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        if (host, mediamtx) != (getattr(self, "_host", None), getattr(self, "_config", None)):
            self._generation += 1
        self._host = host
        self._config = mediamtx

    def epoch(self) -> int:
        """Changes exactly when the URLs of every camera change (the token
        window, or a reload that changed what URLs say), so views built
        from them can be cached until then."""
        window = self._tokens.window() if self._tokens is not None else 0
        return (self._generation << 48) + window

    def urls(self, path: str) -> dict[str, Optional[str]]:
        c, h = self._config, self._host
        on = set(c.protocols)
        query = "?token=" + self.tokens.read_token(path) if self.tokens is not None else ""
        return {
            "rtsp": f"rtsp://{h}:{c.rtsp_port}/{path}{query}",
            "hls": f"http://{h}:{c.hls_port}/{path}/index.m3u8{query}" if "hls" in on else None,
            "webrtc": f"http://{h}:{c.webrtc_port}/{path}/whep{query}" if "webrtc" in on else None,
        }

    def url(self, path: str) -> str:
        """The main stream URL (RTSP)."""
        return self.urls(path)["rtsp"]
