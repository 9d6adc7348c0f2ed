"""The web console's HTTP resources: the policy they send, the media
origins it allows, the page and its files (tests/browser runs them in
Chromium)."""
from __future__ import annotations

from twisted.web.test.requesthelper import DummyRequest

from camservice.console.resource import (
    STATIC_DIR, StreamOrigins, console_resources, content_security_policy, media_origins_of,
)


def _directives(policy: str) -> dict:
    return {d.split()[0]: d.split()[1:] for d in policy.split("; ")}


def test_the_policy_allows_camservice_and_the_media_origins_only():
    d = _directives(content_security_policy(["http://10.0.0.5:8888", "http://10.0.0.5:8889"]))
    assert d["default-src"] == ["'none'"]
    assert d["script-src"] == ["'self'"] and d["style-src"] == ["'self'"]
    assert d["connect-src"] == ["'self'", "http://10.0.0.5:8888", "http://10.0.0.5:8889"]
    assert d["media-src"] == ["'self'", "blob:", "http://10.0.0.5:8888", "http://10.0.0.5:8889"]
    assert d["frame-ancestors"] == ["'none'"]


def test_the_websocket_origin_is_named_from_a_well_formed_host_only():
    from camservice.console.resource import websocket_origin

    def origin(host):
        request = DummyRequest([])
        request.isSecure = lambda: False
        if host is not None:
            request.requestHeaders.setRawHeaders(b"host", [host])
        return websocket_origin(request)

    assert origin(b"cams.example:8002") == "ws://cams.example:8002"
    assert origin(b"[::1]:8002") == "ws://[::1]:8002"
    assert origin(b"evil; script-src *") is None
    assert origin(None) is None
    d = _directives(content_security_policy(["http://h:1"], ["ws://cams.example:8002"]))
    assert d["connect-src"] == ["'self'", "ws://cams.example:8002", "http://h:1"]


def test_nothing_odd_gets_into_the_policy():
    d = _directives(content_security_policy(["*", "http://a:1; script-src *", ""]))
    assert d["connect-src"] == ["'self'"]
    assert d["script-src"] == ["'self'"]


def test_the_media_origins_are_those_of_the_hls_and_webrtc_urls():
    urls = {
        "rtsp": "rtsp://cams.example:8554/camera0?token=x",
        "hls": "http://cams.example:8888/camera0/index.m3u8?token=x",
        "webrtc": "http://cams.example:8889/camera0/whep?token=x",
    }
    assert media_origins_of(urls) == ("http://cams.example:8888", "http://cams.example:8889")
    assert media_origins_of({"rtsp": "rtsp://h:1/c", "hls": None, "webrtc": None}) == ()


def test_the_origins_are_worked_out_again_only_when_the_urls_change():
    calls = []
    epoch = [1]

    def urls(path):
        calls.append(path)
        return {"hls": f"http://h:{8888 + epoch[0]}/{path}/index.m3u8", "webrtc": None}

    origins = StreamOrigins(urls, lambda: epoch[0])
    assert origins() == ("http://h:8889",)
    assert origins() == ("http://h:8889",)
    epoch[0] = 2
    assert origins() == ("http://h:8890",)
    assert len(calls) == 2


def _get(resource, path: bytes = b"", headers=None):
    request = DummyRequest([path] if path else [])
    request.isSecure = lambda: False
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name, [value])
    body = resource.render(request)
    if isinstance(body, bytes):
        request.write(body)
    return request


def test_the_page_has_the_websocket_path_and_the_policy():
    page = console_resources(lambda: ("http://h:8888",), "/api/ws")[b""]
    request = _get(page)
    assert request.responseCode in (None, 200)
    body = b"".join(request.written)
    assert b'content="/api/ws"' in body and b"{{" not in body
    headers = request.responseHeaders
    assert headers.getRawHeaders(b"content-type") == [b"text/html; charset=utf-8"]
    assert b"http://h:8888" in headers.getRawHeaders(b"content-security-policy")[0]
    assert headers.getRawHeaders(b"x-content-type-options") == [b"nosniff"]
    assert headers.getRawHeaders(b"referrer-policy") == [b"no-referrer"]
    # revalidation: the same page is a 304
    etag = headers.getRawHeaders(b"etag")[0]
    again = _get(page, headers={b"if-none-match": etag})
    assert again.responseCode == 304 and b"".join(again.written) == b""


def test_every_file_the_page_names_is_shipped():
    page = (STATIC_DIR / "index.html").read_text()
    for name in ("style.css", "app.js", "icon.svg", "vendor/hls.min.js"):
        assert f"/console/{name}" in page
        assert (STATIC_DIR / name).is_file()
    assert (STATIC_DIR / "vendor" / "hls.js-LICENSE.txt").read_text().count("Apache License") >= 1


def test_no_listing_and_no_dot_names():
    files = console_resources(lambda: ())[b"console"]
    assert files.getChild(b".hidden", DummyRequest([b".hidden"])).code == 404
    assert files.directoryListing().code == 404
