"""The snapshot keys of the ``media`` section at run time (a reload
participant)."""
from __future__ import annotations

from camservice.media.capture import FrameCapture
from camservice.media.live_frames import LiveFrames
from camservice.media.snapshots import SnapshotService
from camservice.media.still_tokens import StillTokens

__all__ = ["SnapshotSettings"]


class SnapshotSettings:
    """Swaps the capture timeout and quality, how old a live frame may be
    and the still-image tokens' lifetime. The snapshots folder needs a restart (the file index and
    the downloads are built on it).

    :param capture: captures frames.
    :param snapshots: stores snapshots.
    :param tokens: mints still-image tokens.
    """

    reloadable_keys = ("media.snapshot_timeout", "media.snapshot_quality", "media.still_token_ttl",
                       "media.live_snapshot_max_age")

    def __init__(self, config, capture: FrameCapture, snapshots: SnapshotService, tokens: StillTokens,
                 live: LiveFrames):
        self.config = config
        self._live = live
        self._capture = capture
        self._snapshots = snapshots
        self._tokens = tokens

    def checkConfig(self, new) -> None:
        """Nothing to refuse: the schema bounds every key."""

    def reconfigService(self, new) -> None:
        if new.media == self.config.media and new.mediamtx == self.config.mediamtx:
            return None
        self._capture.configure(new.mediamtx, new.media)
        self._live.configure(new.mediamtx, new.media)
        self._snapshots.configure(new.media)
        self._tokens.set_ttl(new.media.still_token_ttl)
        self.config = new
        return None
