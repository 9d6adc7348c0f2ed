"""A network camera for tests: a MediaMTX of its own (MediaMTX's default,
open access) on free loopback ports, fed by FFmpeg's test pattern."""
from __future__ import annotations

from pathlib import Path

import treq
import yaml
from twisted.internet import task

from camservice.mediamtx.binary import find_mediamtx
from helpers.processes import Child, free_ports


class RtspSource:
    """``url``: the RTSP URL of its one stream."""

    def __init__(self, reactor, folder: Path, path: str = "remote1"):
        self.reactor = reactor
        api, rtsp = free_ports(2)
        self.api = f"http://127.0.0.1:{api}"
        self.url = f"rtsp://127.0.0.1:{rtsp}/{path}"
        self.path = path
        conf = {
            "logLevel": "error", "api": True, "apiAddress": f"127.0.0.1:{api}",
            "rtspTransports": ["tcp"], "rtspAddress": f"127.0.0.1:{rtsp}",
            "rtmp": False, "hls": False, "webrtc": False, "srt": False, "moq": False,
            "paths": {path: {"source": "publisher"}},
        }
        config = Path(folder) / "source-mediamtx.yml"
        config.write_text(yaml.safe_dump(conf))
        binary, _version = find_mediamtx(None)
        self.server = Child(reactor, [binary, str(config)])
        self.publisher = None

    async def start(self, timeout: float = 20.0) -> "RtspSource":
        """Start publishing; fires once the stream is available."""
        deadline = self.reactor.seconds() + timeout
        while True:
            if self.publisher is None or self.publisher.ended.called:
                self.publisher = Child(self.reactor, [
                    "ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
                    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "20",
                    "-pix_fmt", "yuv420p", "-f", "rtsp", "-rtsp_transport", "tcp", self.url])
            try:
                response = await treq.get(f"{self.api}/v3/paths/get/{self.path}", timeout=2)
                if response.code == 200 and (await response.json()).get("available"):
                    return self
            except Exception:
                pass
            assert self.reactor.seconds() < deadline, "the test RTSP source did not start"
            await task.deferLater(self.reactor, 0.1, lambda: None)

    async def stop(self) -> None:
        if self.publisher is not None:
            await self.publisher.stop()
        await self.server.stop()
