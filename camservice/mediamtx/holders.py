"""The ``stream-holders`` service: keeps a camera's source running.

MediaMTX runs a camera's source on demand, while someone reads the path.
Switching a path to always-on would mean changing its configuration, which
MediaMTX cannot do without closing the path and dropping its viewers. So
when a stream must keep running (``start_streaming``; recordings later),
camservice holds the path open itself: one FFmpeg reader per camera that
copies the stream to nowhere (no decoding, a few percent of a core),
supervised and restarted with backoff like any child.
"""
from __future__ import annotations

import random
from twisted.internet import defer
from twisted.logger import Logger

from camservice.config.model import MediaMTXConfig
from camservice.mediamtx.sources import publish_url
from camservice.supervisor import Supervisor, child_environment

__all__ = ["HOLD_QUERY", "StreamHolders", "hold_query"]

#: the query string of camservice's keep-alive readers, so MediaMTX's RTSP
#: session list tells them apart from real viewers; in service the internal
#: readers' credential is appended (see :func:`hold_query`), so no viewer
#: can pass for one
HOLD_QUERY = "camservice=hold"


def hold_query(internal_credential: str | None) -> str:
    """The keep-alive readers' query string carrying ``internal_credential``."""
    return f"{HOLD_QUERY}&token={internal_credential}" if internal_credential else HOLD_QUERY


class StreamHolders(Supervisor):
    """One keep-alive reader per held camera path.

    :param config: the ``mediamtx`` section (where to read, which ffmpeg).
    :param query: the readers' query string (:func:`hold_query`).
    :param ledger: see :class:`camservice.supervisor.Supervisor`.
    :param jitter: added to each restart backoff.
    """

    threshold = 5
    minRestartDelay = 1
    maxRestartDelay = 10
    killTime = 3

    def __init__(self, config: MediaMTXConfig, reactor, query: str = HOLD_QUERY, ledger=None,
                 jitter=random.random):
        super().__init__(reactor, Logger(namespace="camservice.mediamtx.holders"), ledger, jitter)
        self._config = config
        self.query = query

    #: What a reload takes: where the readers read (MediaMTX's RTSP port
    #: and host) and the ffmpeg they run; held readers are restarted with
    #: them.
    reloadable_keys = ("mediamtx.ffmpeg", "mediamtx.rtsp_port", "mediamtx.host", "mediamtx.media_host")

    def checkConfig(self, new) -> None:
        """Nothing to refuse."""

    def reconfigService(self, new) -> None:
        old, section = self._config, new.mediamtx
        self._config = section
        if publish_url(old, "x", self.query) == publish_url(section, "x", self.query) and old.ffmpeg == section.ffmpeg:
            return None
        for camera_id in self.held():
            # removed and added again: started once the old reader exited
            self.removeProcess(camera_id)
            self.hold(camera_id)
        return None

    def holds(self, camera_id: str) -> bool:
        return camera_id in self

    def held(self) -> list[str]:
        return self.names()

    def hold(self, camera_id: str) -> None:
        """Keep ``camera_id``'s source running (idempotent)."""
        if self.holds(camera_id):
            return
        argv = [self._config.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
                "-rtsp_transport", "tcp", "-i", publish_url(self._config, camera_id, self.query),
                "-map", "0", "-c", "copy", "-f", "null", "-"]
        self.logger.info("holding {camera_id} open", camera_id=camera_id)
        self.addProcess(camera_id, argv, env=child_environment())

    def release(self, camera_id: str) -> defer.Deferred:
        """Let ``camera_id`` go back to on demand; fires once the reader
        has exited."""
        if not self.holds(camera_id):
            return defer.succeed(None)
        waiting = self.wait_stopped(camera_id)
        self.removeProcess(camera_id)
        self.logger.info("released {camera_id}", camera_id=camera_id)
        return waiting
