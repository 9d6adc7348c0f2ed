"""A reload changes how snapshots are captured and how long still-image
tokens live, from the next capture or token on; other media keys stay
the restart's business."""
from __future__ import annotations

import dataclasses

from twisted.internet import defer

from camservice.config import load_config
from camservice.events import EventBus
from camservice.media.capture import FrameCapture
from camservice.media.live_frames import LiveFrames
from camservice.media.snapshot_settings import SnapshotSettings
from camservice.media.snapshots import SnapshotService
from camservice.media.still_tokens import StillTokens
from camservice.streamauth.secrets import StreamSecrets
from fakes.process_reactor import FakeProcessReactor


def test_reload_applies_the_snapshot_keys(write_config):
    reactor = FakeProcessReactor(now=1_700_000_000)
    config = load_config(write_config({}))
    capture = FrameCapture(config.mediamtx, config.media, reactor, None, lambda: False,
                           lambda f, *a: defer.maybeDeferred(f, *a))
    snapshots = SnapshotService(config.media, capture, lambda c: None, EventBus(), reactor,
                                lambda f, *a: defer.maybeDeferred(f, *a))
    tokens = StillTokens(StreamSecrets(b"k" * 32), reactor, config.media.still_token_ttl)
    live = LiveFrames(config.mediamtx, config.media, reactor, lambda: [], lambda c: None, "q")
    settings = SnapshotSettings(config, capture, snapshots, tokens, live)
    assert "media.snapshot_quality" in settings.reloadable_keys
    assert not any(k.startswith("media.snapshots_dir") for k in settings.reloadable_keys)

    media = dataclasses.replace(config.media, snapshot_quality=9, snapshot_timeout=2, still_token_ttl=60,
                                live_snapshot_max_age=0)
    new = dataclasses.replace(config, media=media)
    settings.checkConfig(new)
    assert settings.reconfigService(new) is None
    assert capture.media.snapshot_quality == 9 and capture.media.snapshot_timeout == 2
    assert live.media.live_snapshot_max_age == 0
    assert snapshots.config is media
    assert tokens.mint("camera1000")[1] == 1_700_000_060
    # and back (a rollback)
    settings.reconfigService(config)
    assert capture.media.snapshot_quality == config.media.snapshot_quality
    assert tokens.ttl == config.media.still_token_ttl
