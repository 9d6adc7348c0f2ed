"""Still images: the signed tokens (bound to one camera, expiring, of a
purpose of their own) and ``/cameras/{id}/snapshot.jpg`` on a fake process
reactor (its doors, and concurrent requests sharing one FFmpeg run)."""
from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.roles import Role
from camservice.auth.tokens import TokenAuthority
from camservice.cameras.errors import UnknownCamera
from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.config import load_config
from camservice.media.capture import FrameCapture
from camservice.media.errors import CameraNotConnected
from camservice.media.still_tokens import StillTokenRefused, StillTokens
from camservice.metrics import Metrics
from camservice.rpc.audit import Audit
from camservice.server.still import StillImageResource
from camservice.streamauth.secrets import StreamSecrets
from camservice.streamauth.tokens import StreamTokens, TokenRefused
from fakes.process_reactor import FakeProcessReactor

JPEG = b"\xff\xd8" + b"x" * 100 + b"\xff\xd9"
SECRET = "unit-test-secret-0123456789abcdefghijklmnop"
CAMERAS = {
    "camera1000": Camera("camera1000", CameraKind.VIRTUAL, "A", CameraStatus.CONNECTED, "320x240", 10),
    "camera1001": Camera("camera1001", CameraKind.VIRTUAL, "B", CameraStatus.DISCONNECTED, "320x240", 10),
}


@pytest.fixture
def reactor():
    return FakeProcessReactor(now=1_700_000_000)


@pytest.fixture
def secrets():
    return StreamSecrets(b"k" * 32)


def test_a_token_opens_one_camera_until_it_expires(reactor, secrets):
    tokens = StillTokens(secrets, reactor, 300)
    token, expires = tokens.mint("camera1000")
    assert token.startswith("st1-") and expires == 1_700_000_300
    tokens.check(token, "camera1000")
    with pytest.raises(StillTokenRefused) as other:
        tokens.check(token, "camera1001")
    assert other.value.wrong_camera
    edited = token.replace(str(expires), str(expires + 1000))
    with pytest.raises(StillTokenRefused) as forged:
        tokens.check(edited, "camera1000")
    assert forged.value.wrong_camera
    reactor.advance(299.5)
    tokens.check(token, "camera1000")
    reactor.advance(0.5)
    with pytest.raises(StillTokenRefused) as expired:
        tokens.check(token, "camera1000")
    assert not expired.value.wrong_camera and "expired" in expired.value.reason


def test_still_and_stream_tokens_do_not_open_each_other(reactor, secrets):
    still = StillTokens(secrets, reactor, 300)
    stream = StreamTokens(secrets, reactor, 300)
    with pytest.raises(StillTokenRefused):
        still.check(stream.read_token("camera1000"), "camera1000")
    still_token, _ = still.mint("camera1000")
    with pytest.raises(TokenRefused):
        stream.check(still_token, "camera1000")
    # the same shape with the other prefix is no good either: the MACs
    # are of different purposes
    with pytest.raises(TokenRefused):
        stream.check("s1-" + still_token[4:], "camera1000")
    with pytest.raises(StillTokenRefused):
        still.check("st1-" + stream.read_token("camera1000")[3:], "camera1000")


class Site:
    def __init__(self, reactor, write_config, tmp_path, secrets):
        config = load_config(write_config({}))
        self.reactor = reactor
        self.capture = FrameCapture(config.mediamtx, config.media, reactor, "i1-x", mediamtx_down=lambda: False,
                                    run_blocking=lambda f, *a: defer.maybeDeferred(f, *a))
        self.tokens = StillTokens(secrets, reactor, 300)
        self.authority = TokenAuthority(SECRET, reactor)
        authenticator = Authenticator(self.authority, ApiKeyStore(tmp_path / "keys.json", reactor))

        def streamable(camera_id):
            if camera_id not in CAMERAS:
                raise UnknownCamera(camera_id)
            camera = CAMERAS[camera_id]
            if camera.status is not CameraStatus.CONNECTED:
                raise CameraNotConnected(camera_id, camera.status.value)
            return camera

        self.resource = StillImageResource(
            lambda camera_id: defer.maybeDeferred(lambda: self.capture.capture(streamable(camera_id))),
            authenticator, self.tokens, Audit(Metrics(), reactor, interval=60),
        )

    def jwt(self, role="viewer", cameras=None):
        return self.authority.issue("tester", Role.parse(role), 3600, cameras)

    def get(self, path: str, headers=None, token=None) -> DummyRequest:
        request = DummyRequest(path.strip("/").split("/")[1:])
        request.postpath = [p.encode() for p in path.strip("/").split("/")[1:]]
        for name, value in (headers or {}).items():
            request.requestHeaders.setRawHeaders(name, [value])
        if token is not None:
            request.args = {b"token": [token.encode()]}
        result = self.resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        return request


@pytest.fixture
def site(reactor, write_config, tmp_path, secrets):
    return Site(reactor, write_config, tmp_path, secrets)


def _body(request) -> bytes:
    return b"".join(request.written)


def _finish_capture(reactor, jpeg=JPEG):
    process = reactor.last()
    process.stdout(jpeg)
    process.exit(0)


def test_concurrent_requests_for_one_camera_share_one_capture(site, reactor):
    auth = {b"authorization": f"Bearer {site.jwt()}".encode()}
    requests = [site.get("/cameras/camera1000/snapshot.jpg", auth) for _ in range(3)]
    token, _ = site.tokens.mint("camera1000")
    requests.append(site.get("/cameras/camera1000/snapshot.jpg", token=token))
    assert len(reactor.spawned) == 1
    assert not any(r.finished for r in requests)
    _finish_capture(reactor)
    for request in requests:
        assert request.finished and request.responseCode == 200
        assert _body(request) == JPEG
        assert request.responseHeaders.getRawHeaders(b"content-type") == [b"image/jpeg"]
        assert request.responseHeaders.getRawHeaders(b"cache-control") == [b"no-store"]
        assert request.responseHeaders.getRawHeaders(b"content-length") == [str(len(JPEG)).encode()]
    # a later request is a fresh picture
    site.get("/cameras/camera1000/snapshot.jpg", auth)
    assert len(reactor.spawned) == 2
    _finish_capture(reactor)


@pytest.mark.parametrize("headers, token, code", [
    ({}, None, 401),
    ({b"authorization": b"Bearer nonsense-that-is-no-jwt-and-no-key-0123456789"}, None, 401),
    ({}, "st1-1700000000-" + "0" * 32, 401),
    ({}, "garbage", 401),
])
def test_refused_without_a_good_credential(site, reactor, headers, token, code):
    request = site.get("/cameras/camera1000/snapshot.jpg", headers, token)
    assert request.responseCode == code
    assert request.responseHeaders.getRawHeaders(b"www-authenticate") == [b'Bearer realm="camservice"']
    assert reactor.spawned == []


def test_refusals_are_summarised_by_the_audit_service(site, log_events):
    """A client hammering the endpoint costs one audit line per interval,
    with the count of the rest, as the file downloads' refusals do."""
    events = log_events("camservice.audit")
    for _ in range(5):
        assert site.get("/cameras/camera1000/snapshot.jpg", {}, "garbage").responseCode == 401
    refusals = [e for e in events if e.get("what") == "still image"]
    assert len(refusals) == 1
    assert refusals[0]["camera"] == "camera1000" and refusals[0]["status"] == 401
    site.reactor.advance(60)
    summaries = [e for e in events if e.get("what") == "still image"][1:]
    assert [e.get("count") for e in summaries] == [4]


def test_refused_for_a_camera_the_caller_may_not_see(site, reactor):
    limited = {b"x-api-key": site.jwt(cameras=["camera1001"]).encode()}
    assert site.get("/cameras/camera1000/snapshot.jpg", limited).responseCode == 403
    token, _ = site.tokens.mint("camera1001")
    assert site.get("/cameras/camera1000/snapshot.jpg", token=token).responseCode == 403
    assert reactor.spawned == []


@pytest.mark.parametrize("path", ["/cameras/camera4242/snapshot.jpg", "/cameras/camera1000/other.jpg",
                                  "/cameras/../snapshot.jpg", "/cameras/camera1000", "/cameras/cam/snapshot.jpg"])
def test_unknown_things_are_404(site, path):
    assert site.get(path, {b"authorization": f"Bearer {site.jwt()}".encode()}).responseCode == 404


def test_a_disconnected_camera_is_503_and_a_failed_capture_502(site, reactor):
    auth = {b"authorization": f"Bearer {site.jwt()}".encode()}
    assert site.get("/cameras/camera1001/snapshot.jpg", auth).responseCode == 503
    request = site.get("/cameras/camera1000/snapshot.jpg", auth)
    reactor.last().stderr(b"Connection refused\n")
    reactor.last().exit(1)
    assert request.responseCode == 502
    assert b"Connection refused" in _body(request)


def test_a_client_that_leaves_stops_the_capture(site, reactor):
    request = site.get("/cameras/camera1000/snapshot.jpg", {b"authorization": f"Bearer {site.jwt()}".encode()})
    process = reactor.last()
    request.processingFailed(Failure(ConnectionError("connection lost")))  # as the channel reports it
    assert process.signals == ["KILL"]
    reactor.advance(0)
    assert not reactor.alive() and reactor.getDelayedCalls() == []
    assert request.written == []


def test_a_bug_is_a_500_not_a_hanging_request(site, reactor):
    from twisted.logger import globalLogPublisher

    logged = []
    globalLogPublisher.addObserver(logged.append)
    try:
        site.resource._grab = lambda camera_id: defer.fail(ZeroDivisionError("bug"))
        request = site.get("/cameras/camera1000/snapshot.jpg", {b"authorization": f"Bearer {site.jwt()}".encode()})
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert request.finished and request.responseCode == 500
    assert any(e.get("log_failure") is not None and e["log_failure"].check(ZeroDivisionError) for e in logged)
