"""Camera views with signed stream URLs: cached and shared until the token
window turns, never stale past it."""
from __future__ import annotations

from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.config import load_config
from camservice.mediamtx.urls import StreamLocator
from camservice.rpc.views import CameraPresenter
from camservice.streamauth.secrets import StreamSecrets
from camservice.streamauth.tokens import StreamTokens

CAMERA = Camera("camera1000", CameraKind.VIRTUAL, "Pattern", CameraStatus.CONNECTED, "320x240", 10)


def _presenter(write_config, clock, signed=True):
    config = load_config(write_config({"streams": {"token_ttl": 400}}))
    tokens = StreamTokens(StreamSecrets(bytes(32)), clock, config.streams.token_ttl) if signed else None
    locator = StreamLocator(config.mediamtx, config.streams, tokens)
    return CameraPresenter(locator.urls, locator.epoch), tokens


def test_every_url_carries_the_cameras_current_token(write_config, clock):
    presenter, tokens = _presenter(write_config, clock)
    streams = presenter.camera(CAMERA)["streams"]
    token = tokens.read_token("camera1000")
    assert streams == {
        "rtsp": f"rtsp://127.0.0.1:8554/camera1000?token={token}",
        "hls": f"http://127.0.0.1:8888/camera1000/index.m3u8?token={token}",
        "webrtc": f"http://127.0.0.1:8889/camera1000/whep?token={token}",
    }


def test_a_view_is_shared_within_a_window_and_rendered_again_after_it(write_config, clock):
    presenter, tokens = _presenter(write_config, clock)
    first = presenter.camera(CAMERA)
    clock.advance(tokens.window_length - (clock.seconds() % tokens.window_length) - 1)
    assert presenter.camera(CAMERA) is first  # same window: the cached object
    clock.advance(1)
    second = presenter.camera(CAMERA)
    assert second is not first
    assert second["streams"]["rtsp"] != first["streams"]["rtsp"]
    assert presenter.camera(CAMERA) is second


def test_a_changed_camera_is_rendered_again(write_config, clock):
    presenter, _tokens = _presenter(write_config, clock)
    first = presenter.camera(CAMERA)
    changed = presenter.camera(CAMERA.replace(name="Door"))
    assert changed is not first and changed["name"] == "Door"


def test_without_signed_urls_the_urls_are_plain(write_config, clock):
    presenter, _tokens = _presenter(write_config, clock, signed=False)
    assert presenter.camera(CAMERA)["streams"]["rtsp"] == "rtsp://127.0.0.1:8554/camera1000"
