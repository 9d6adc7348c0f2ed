"""The ``streams`` section in a reload, on a Clock: the auth callback's
listener moves (the old port answers a while longer, and a rollback finds
it), signed URLs turn on and off, and the camera views handed out follow
MediaMTX's ports at once."""
from __future__ import annotations

import dataclasses

import pytest
from twisted.internet import defer, task
from twisted.internet.address import IPv4Address

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.tokens import TokenAuthority
from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.config import load_config
from camservice.errors import StartupError
from camservice.mediamtx.urls import StreamLocator
from camservice.metrics import Metrics
from camservice.rpc.views import CameraPresenter
from camservice.streamauth.policy import AccessRequest, StreamAccessPolicy
from camservice.streamauth.secrets import StreamSecrets
from camservice.streamauth.service import StreamAuthServer
from camservice.streamauth.settings import StreamSettings
from camservice.streamauth.tokens import StreamTokens
from helpers.deferreds import fails_with, outcome

CAMERA = Camera("camera1000", CameraKind.VIRTUAL, "Pattern", CameraStatus.CONNECTED, "320x240", 10)


def _with(config, streams=None, mediamtx=None):
    return dataclasses.replace(
        config,
        streams=dataclasses.replace(config.streams, **(streams or {})),
        mediamtx=dataclasses.replace(config.mediamtx, **(mediamtx or {})),
    )


class World:
    def __init__(self, config, clock, tmp_path):
        self.config = config
        secrets = StreamSecrets(bytes(32))
        self.tokens = StreamTokens(secrets, clock, config.streams.token_ttl)
        authenticator = Authenticator(TokenAuthority("s" * 40, clock), ApiKeyStore(tmp_path / "keys.json", clock))
        self.policy = StreamAccessPolicy(secrets, self.tokens, authenticator, "camservice", "p" * 40,
                                         signed_urls=False)
        self.locator = StreamLocator(config.mediamtx, config.streams, None)
        self.presenter = CameraPresenter(self.locator.urls, self.locator.epoch)
        self.settings = StreamSettings(config, self.tokens, self.policy, self.locator)

    def anonymous_read_allowed(self) -> bool:
        return self.policy.decide(AccessRequest("read", path="camera1000", ip="127.0.0.1", protocol="rtsp")).allowed


@pytest.fixture
def world(write_config, clock, tmp_path):
    return World(load_config(write_config({"streams": {"signed_urls": "auto"}})), clock, tmp_path)


def test_turning_signed_urls_on_and_off(world):
    assert world.anonymous_read_allowed()
    unsigned = world.presenter.camera(CAMERA)["streams"]["rtsp"]
    assert "token=" not in unsigned
    world.settings.reconfigService(_with(world.config, streams={"signed_urls": True}))
    assert not world.anonymous_read_allowed()
    signed = world.presenter.camera(CAMERA)["streams"]["rtsp"]
    assert signed.startswith(unsigned + "?token=")
    world.settings.reconfigService(world.config)  # a rollback
    assert world.anonymous_read_allowed()
    assert world.presenter.camera(CAMERA)["streams"]["rtsp"] == unsigned


def test_auto_follows_the_media_host(world):
    world.settings.reconfigService(_with(world.config, mediamtx={"media_host": "0.0.0.0"}))
    assert not world.anonymous_read_allowed()  # media ports beyond loopback: signed


def test_camera_views_follow_mediamtxs_ports_and_protocols_at_once(world):
    before = world.presenter.camera(CAMERA)["streams"]
    world.settings.reconfigService(_with(world.config, mediamtx={"rtsp_port": 18600, "protocols": ("rtsp",)}))
    after = world.presenter.camera(CAMERA)["streams"]
    assert before["hls"] is not None
    assert after == {"rtsp": "rtsp://127.0.0.1:18600/camera1000", "hls": None, "webrtc": None}


# -- the auth callback's port --------------------------------------------------------

class _Port:
    def __init__(self, number):
        self.number = number
        self.disconnected = False

    def getHost(self):
        return IPv4Address("TCP", "127.0.0.1", self.number)

    def stopListening(self):
        self.disconnected = True
        return defer.succeed(None)


class _Reactor(task.Clock):
    """A clock whose ``listenTCP`` hands out ports that record closing."""

    def __init__(self):
        super().__init__()
        self.tcpServers = []

    def listenTCP(self, port, factory, backlog=50, interface=""):
        self.tcpServers.append((port, factory, backlog, interface))
        return _Port(port)


@pytest.fixture
def reactor():
    return _Reactor()


@pytest.fixture
def server(world, reactor):
    s = StreamAuthServer(19996, world.policy, Metrics(), reactor)
    s.startService()
    yield s
    s.stopService()


def test_a_new_auth_port_opens_at_once_and_the_old_one_closes_later(world, server, reactor):
    old = server.port
    server.reconfigService(_with(world.config, streams={"auth_port": 19995}))
    assert [(p, i) for p, _, _, i in reactor.tcpServers] == [(19996, "127.0.0.1"), (19995, "127.0.0.1")]
    assert server._port_number == 19995
    assert not old.disconnected
    reactor.advance(StreamAuthServer.retire_after)
    assert old.disconnected
    assert not server.port.disconnected


def test_a_rollback_finds_the_old_port_still_open(world, server, reactor):
    old = server.port
    server.reconfigService(_with(world.config, streams={"auth_port": 19995}))
    new = server.port
    server.reconfigService(_with(world.config, streams={"auth_port": 19996}))
    assert server.port is old and len(reactor.tcpServers) == 2  # not opened again
    reactor.advance(StreamAuthServer.retire_after)
    assert new.disconnected and not old.disconnected


def test_a_port_that_cannot_be_opened_changes_nothing(world, server, reactor, monkeypatch):
    from twisted.internet.error import CannotListenError

    def taken(port, factory, backlog=50, interface=""):
        raise CannotListenError(interface, port, OSError(98, "Address already in use"))

    monkeypatch.setattr(reactor, "listenTCP", taken)
    with pytest.raises(StartupError, match="streams.auth_port"):
        server.reconfigService(_with(world.config, streams={"auth_port": 19995}))
    assert server._port_number == 19996 and not server.port.disconnected


def test_stopping_closes_the_retiring_port_too(world, server, reactor):
    old = server.port
    server.reconfigService(_with(world.config, streams={"auth_port": 19995}))
    server.stopService()
    assert old.disconnected and reactor.getDelayedCalls() == []


# -- the Control API's credentials ----------------------------------------------------

class _Client:
    def __init__(self):
        self.credentials = []

    def set_credentials(self, user, password):
        self.credentials.append((user, password))


def _api_allowed(policy, user, password) -> bool:
    return policy.decide(AccessRequest("api", user=user, password=password, ip="127.0.0.1")).allowed


def test_new_control_api_credentials_are_granted_and_presented_together(world, tmp_path):
    from twisted.internet import defer as d

    from camservice.config import ConfigError
    from camservice.streamauth.settings import ControlApiCredentials

    client = _Client()
    credentials = ControlApiCredentials(world.config.mediamtx, "p" * 40, world.policy, client,
                                        lambda f, *a: d.maybeDeferred(f, *a))
    other = tmp_path / "other-password"
    other.write_text("q" * 32 + "\n")
    new = _with(world.config, mediamtx={"api_user": "cams", "api_password_file": other})
    assert outcome(credentials.reconfigService(new)) is None
    assert client.credentials == [("cams", "q" * 32)]
    assert _api_allowed(world.policy, "cams", "q" * 32)
    assert not _api_allowed(world.policy, "camservice", "p" * 40)
    # a password rotated in the same file is taken at the next reload
    other.write_text("r" * 32 + "\n")
    outcome(credentials.reconfigService(new))
    assert client.credentials[-1] == ("cams", "r" * 32)
    # a file too short to hold a password changes nothing
    other.write_text("short\n")
    fails_with(credentials.reconfigService(new), ConfigError)
    assert _api_allowed(world.policy, "cams", "r" * 32) and client.credentials[-1] == ("cams", "r" * 32)


def test_in_external_mode_the_auth_port_and_origins_are_refused_by_name(world, server):
    from camservice.config import ConfigError

    external = _with(world.config, mediamtx={"mode": "external"}, streams={"auth_port": 19996})
    moved = _with(external, streams={"auth_port": 19995, "allowed_origins": ("https://a.example.test",)})
    with pytest.raises(ConfigError) as e:
        server.checkConfig(moved)
    assert [p.key for p in e.value.problems] == ["streams.auth_port"]
    assert "external mode" in str(e.value.problems[0])
    with pytest.raises(ConfigError) as e:
        world.settings.checkConfig(moved)
    assert [p.key for p in e.value.problems] == ["streams.allowed_origins"]
    server.checkConfig(external)
    world.settings.checkConfig(external)
    # managed mode: both are applied
    managed = _with(world.config, streams={"auth_port": 19995, "allowed_origins": ("https://a.example.test",)})
    server.checkConfig(managed)
    world.settings.checkConfig(managed)
