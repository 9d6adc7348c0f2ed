"""The auth callback's decision table, on a Clock: every action MediaMTX
asks about, every credential a client may present."""
from __future__ import annotations

from io import BytesIO

import pytest
from twisted.web.test.requesthelper import DummyRequest

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.roles import Role
from camservice.auth.tokens import TokenAuthority
from camservice.codec import dumps
from camservice.config import load_config
from camservice.metrics import Metrics
from camservice.streamauth.policy import AccessRequest, StreamAccessPolicy, signed_urls_enabled
from camservice.streamauth.resource import StreamAuthResource
from camservice.streamauth.secrets import StreamSecrets
from camservice.streamauth.tokens import StreamTokens

KEY = bytes(range(32))
JWT_SECRET = "s" * 40
API_PASSWORD = "p" * 40


class World:
    def __init__(self, clock, tmp_path, signed_urls=True, networks=()):
        self.clock = clock
        self.secrets = StreamSecrets(KEY)
        self.tokens = StreamTokens(self.secrets, clock, 60)
        self.jwts = TokenAuthority(JWT_SECRET, clock)
        self.keys = ApiKeyStore(tmp_path / "keys.json", clock)
        self.policy = StreamAccessPolicy(
            self.secrets, self.tokens, Authenticator(self.jwts, self.keys), "camservice", API_PASSWORD,
            signed_urls=signed_urls, allowed_networks=networks,
        )

    def read(self, path="camera1000", query="", ip="127.0.0.1", **fields):
        return self.policy.decide(AccessRequest("read", path=path, ip=ip, protocol="rtsp", query=query, **fields))


@pytest.fixture
def world(clock, tmp_path):
    return World(clock, tmp_path)


# -- the Control API -----------------------------------------------------------

@pytest.mark.parametrize("action", ["api", "metrics", "pprof", "playback"])
def test_the_api_is_granted_to_camservices_credentials_only(world, action):
    decide = world.policy.decide
    assert decide(AccessRequest(action, user="camservice", password=API_PASSWORD)).allowed
    for user, password in [("", ""), ("camservice", ""), ("camservice", API_PASSWORD[:-1]), ("admin", API_PASSWORD),
                           ("camservice", world.secrets.internal_credential)]:
        decision = decide(AccessRequest(action, user=user, password=password, ip="127.0.0.1"))
        assert not decision.allowed
        assert decision.reason == "Control API credentials missing or wrong"


def test_a_valid_read_token_does_not_open_the_api(world):
    token = world.tokens.read_token("camera1000")
    assert not world.policy.decide(AccessRequest("api", token=token, query=f"token={token}")).allowed


# -- publishing ----------------------------------------------------------------

def test_only_a_cameras_own_source_may_publish_to_it(world):
    def publish(path, query):
        return world.policy.decide(AccessRequest("publish", path=path, query=query, ip="127.0.0.1"))

    own = world.secrets.publish_secret("camera1000")
    assert publish("camera1000", f"token={own}").allowed
    assert publish("camera1000", f"token={own}").who == "source:camera1000"
    refused = [
        publish("camera1000", ""),
        publish("camera1000", f"token={world.secrets.publish_secret('camera1001')}"),
        publish("camera1000", f"token={world.tokens.read_token('camera1000')}"),
        publish("camera1000", f"token={world.secrets.internal_credential}"),
        publish("camera1000", f"jwt={world.jwts.issue('root', Role.admin, 60)}"),
    ]
    assert not any(d.allowed for d in refused)
    assert {d.reason for d in refused} == {"only camservice's own source may publish to a camera path"}
    assert publish("other", f"token={own}").reason == "only camservice's camera paths take a publisher"


def test_publishing_is_restricted_even_with_signed_urls_off(clock, tmp_path):
    world = World(clock, tmp_path, signed_urls=False)
    assert not world.policy.decide(AccessRequest("publish", path="camera1000")).allowed
    assert world.read().allowed and world.read().who == "anonymous"


# -- reading -------------------------------------------------------------------

def test_reading_needs_a_credential(world):
    decision = world.read()
    assert not decision.allowed and decision.reason == "no credential"


def test_a_signed_url_opens_its_camera_only_and_expires(world, clock):
    token = world.tokens.read_token("camera1000")
    assert world.read(query=f"token={token}").who == "signed-url"
    # also as MediaMTX extracts it for RTSP (the token field)
    assert world.read(token=token).allowed
    other = world.read(path="camera1001", query=f"token={token}")
    assert not other.allowed and other.reason == "stream token is not valid for this camera"
    clock.advance(world.tokens.expires_at(token) - clock.seconds())
    expired = world.read(query=f"token={token}")
    assert not expired.allowed and expired.reason == "stream token expired"


def test_a_jwt_of_a_caller_allowed_the_camera_opens_it(world):
    anyone = world.jwts.issue("ann", Role.viewer, 60)
    limited = world.jwts.issue("bob", Role.viewer, 60, cameras=["camera1001"])
    assert world.read(query=f"jwt={anyone}").who == "ann"
    assert world.read(token=anyone).allowed  # a Bearer header
    assert world.read(path="camera1001", query=f"token={limited}").who == "bob"
    denied = world.read(query=f"jwt={limited}")
    assert not denied.allowed and denied.reason == "caller may not use this camera" and denied.who == "bob"


def test_an_expired_or_forged_jwt_is_refused(world, clock):
    token = world.jwts.issue("ann", Role.viewer, 60)
    forged = TokenAuthority("x" * 40, clock).issue("ann", Role.admin, 60)
    assert world.read(query=f"jwt={forged}").reason == "token signature is invalid"
    clock.advance(61)
    assert world.read(query=f"jwt={token}").reason == "token expired"


def test_an_api_key_is_checked_with_its_allow_list(world):
    key, _entry = world.keys.add(Role.viewer, "wall", None, ["camera1000"])
    assert world.read(password=key).allowed  # as rtsp://user:KEY@host/...
    assert world.read(query=f"token={key}").who.startswith("key:")
    assert not world.read(path="camera1001", query=f"token={key}").allowed


def test_camservices_own_readers_get_in_and_are_told_apart(world):
    query = f"camservice=hold&token={world.secrets.internal_credential}"
    assert world.read(query=query).who == "internal"


def test_non_camera_paths_are_not_readable(world):
    token = world.tokens.read_token("camera1000")
    assert world.read(path="foreign", query=f"token={token}").reason == "not a camera path"


def test_unknown_actions_are_refused(world):
    assert not world.policy.decide(AccessRequest("unknown")).allowed


# -- allowed networks ------------------------------------------------------------

@pytest.mark.parametrize("ip, allowed", [
    ("192.168.1.7", True), ("::ffff:192.168.1.7", True), ("192.168.2.7", False), ("127.0.0.1", False),
    ("fd00::7", True), ("fd01::7", False), ("not-an-ip", False),
])
def test_viewers_outside_the_allowed_networks_are_refused(clock, tmp_path, ip, allowed):
    world = World(clock, tmp_path, networks=["192.168.1.0/24", "fd00::/16"])
    token = world.tokens.read_token("camera1000")
    decision = world.read(query=f"token={token}", ip=ip)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "address not in streams.allowed_networks"


def test_internal_readers_are_not_subject_to_the_allowed_networks(clock, tmp_path):
    world = World(clock, tmp_path, networks=["10.0.0.0/8"])
    assert world.read(query=f"token={world.secrets.internal_credential}").allowed


# -- signed_urls: auto -----------------------------------------------------------

@pytest.mark.parametrize("server_host, media_host, mode, setting, expected", [
    ("127.0.0.1", "127.0.0.1", "managed", "auto", False),
    ("::1", "127.0.0.1", "managed", "auto", False),
    ("0.0.0.0", "127.0.0.1", "managed", "auto", True),
    ("127.0.0.1", "0.0.0.0", "managed", "auto", True),
    ("127.0.0.1", "192.168.1.5", "managed", "auto", True),
    ("127.0.0.1", "127.0.0.1", "external", "auto", True),
    ("127.0.0.1", "127.0.0.1", "managed", True, True),
    ("0.0.0.0", "0.0.0.0", "managed", False, False),
])
def test_signed_urls_auto_is_on_beyond_loopback(write_config, server_host, media_host, mode, setting, expected):
    config = load_config(write_config({
        "server": {"host": server_host}, "mediamtx": {"media_host": media_host, "mode": mode},
        "streams": {"signed_urls": setting},
    }))
    assert signed_urls_enabled(config) is expected


# -- the HTTP resource -----------------------------------------------------------

def _post(resource, body: bytes):
    request = DummyRequest([])
    request.method = b"POST"
    request.content = BytesIO(body)
    written = resource.render(request)
    return request.responseCode or 200, written


def test_the_resource_answers_200_or_401_and_audits_refusals(world, log_events):
    audit = log_events("camservice.audit")
    resource = StreamAuthResource(world.policy, Metrics())
    token = world.tokens.read_token("camera1000")
    allowed = {"action": "read", "path": "camera1000", "ip": "127.0.0.1", "protocol": "hls", "user": "",
               "password": "", "token": "", "query": f"token={token}", "id": "s-1", "userAgent": "hls.js"}
    assert _post(resource, dumps(allowed))[0] == 200
    refused = dict(allowed, path="camera1001")
    assert _post(resource, dumps(refused))[0] == 401
    assert _post(resource, dumps({"action": "api", "user": "", "password": "", "id": None}))[0] == 401
    denied = [e for e in audit if e["outcome"] == "denied"]
    assert [(e["action"], e["path"], e["reason"]) for e in denied] == [
        ("read", "camera1001", "stream token is not valid for this camera"),
        ("api", "", "Control API credentials missing or wrong"),
    ]
    assert all(e["audit"] is True and e["ip"] in ("127.0.0.1", "") for e in denied)
    success = [e for e in audit if e["outcome"] == "success"]
    assert [(e["who"], e["protocol"]) for e in success] == [("signed-url", "hls")]
    assert not any(token in repr(e) for e in audit)  # never a credential


def test_camservices_own_calls_are_not_audited(world, log_events):
    audit = log_events("camservice.audit")
    resource = StreamAuthResource(world.policy, Metrics())
    assert _post(resource, dumps({"action": "api", "user": "camservice", "password": API_PASSWORD}))[0] == 200
    query = f"camservice=hold&token={world.secrets.internal_credential}"
    assert _post(resource, dumps({"action": "read", "path": "camera1000", "query": query}))[0] == 200
    assert audit == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"path": "camera1000"}', b'{"action": 1}',
                                  b'{"action": "read", "path": ["x"]}'])
def test_a_body_that_is_not_a_mediamtx_question_is_400(world, body):
    assert _post(StreamAuthResource(world.policy, Metrics()), body)[0] == 400


def test_an_oversized_body_is_413(world):
    assert _post(StreamAuthResource(world.policy, Metrics()), b"{" + b" " * 20000 + b"}")[0] == 413


def test_a_client_that_keeps_knocking_is_summarised_not_logged_each_time(world, log_events):
    from camservice.rpc.audit import Audit

    audit_events = log_events("camservice.audit")
    audit = Audit(Metrics(), world.clock, interval=60)
    resource = StreamAuthResource(world.policy, Metrics(), audit)
    knock = {"action": "read", "path": "camera1000", "ip": "192.0.2.9", "protocol": "rtsp", "user": "",
             "password": "", "token": "", "query": "", "id": "s-1", "userAgent": "scanner"}
    for _ in range(500):
        assert _post(resource, dumps(knock))[0] == 401
    assert len([e for e in audit_events if e.get("outcome") == "denied"]) == 1
    world.clock.advance(59.9)
    assert not any(e.get("summary") for e in audit_events)
    world.clock.advance(0.2)
    (summary,) = [e for e in audit_events if e.get("summary")]
    assert summary["count"] == 499 and summary["peer"] == "192.0.2.9" and summary["whats"] == ["media_read"]
    assert world.clock.getDelayedCalls() == []
