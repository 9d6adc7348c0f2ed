"""Stream URL rules: each refusal names the rule it broke."""
from __future__ import annotations

import pytest

from camservice.security.errors import BadStreamURL
from camservice.security.urls import parse_stream_url

GOOD = [
    ("rtsp://192.0.2.10:554/stream1", "rtsp", "192.0.2.10", 554, False),
    ("rtsp://192.0.2.10/stream1", "rtsp", "192.0.2.10", 554, False),
    ("RTSPS://Cam.Example/x", "rtsps", "cam.example", 322, False),
    ("rtsp://user:p%40ss@cam.example:8554/a?b=c", "rtsp", "cam.example", 8554, True),
    ("rtmp://[2001:db8::1]:1935/live", "rtmp", "2001:db8::1", 1935, False),
    ("srt://192.0.2.1:8890?streamid=read:cam", "srt", "192.0.2.1", 8890, False),
    ("https://cam.example/live/index.m3u8", "https", "cam.example", 443, False),
]


@pytest.mark.parametrize("url, scheme, host, port, creds", GOOD)
def test_well_formed_urls_are_parsed(url, scheme, host, port, creds):
    parsed = parse_stream_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.has_credentials) == (scheme, host, port, creds)


BAD = [
    ("rtsp://192.0.2.10/x\n", "must not contain whitespace, control or non-ASCII characters"),
    ("rtsp://192.0.2.10/a\tb", "must not contain whitespace, control or non-ASCII characters"),
    ("rtsp://192.0.2.10/caf\u00e9", "must not contain whitespace, control or non-ASCII characters"),
    ("rtsp://192.0.2.10/\x00", "must not contain whitespace, control or non-ASCII characters"),
    ("rtsp://192.0.2.10/%zz", "has an invalid percent escape (a % must be followed by two hex digits)"),
    ("rtsp://192.0.2.10/%4", "has an invalid percent escape (a % must be followed by two hex digits)"),
    ("file:///etc/passwd", "must use one of the schemes rtsp, rtsps, rtmp, rtmps, srt, http, https"),
    ("192.0.2.10/x", "must use one of the schemes rtsp, rtsps, rtmp, rtmps, srt, http, https"),
    ("rtsp:///x", "must name a host"),
    ("rtsp://user@/x", "must name a host"),
    ("rtsp://-bad-.example/x", "must name a host"),
    ("rtsp://127.1/x", "must name a host"),
    ("rtsp://192.0.2.10:0/x", "must have a port from 1 to 65535"),
    ("rtsp://192.0.2.10:65536/x", "must have a port from 1 to 65535"),
    ("rtsp://192.0.2.10:55a/x", "must have a port from 1 to 65535"),
    ("rtsp://192.0.2.10:/x", "has an empty port"),
    ("rtsp://[2001:db8::1/x", "has an invalid host"),
    ("rtsp://[not-v6]:554/x", "has an invalid host"),
    ("srt://192.0.2.1", "must give a port for srt"),
    ("rtsp://192.0.2.10/" + "a" * 2048, "must be at most 2048 characters long"),
]


@pytest.mark.parametrize("url, rule", BAD, ids=[repr(u[:40]) for u, _ in BAD])
def test_bad_urls_are_refused_naming_the_rule(url, rule):
    with pytest.raises(BadStreamURL) as caught:
        parse_stream_url(url)
    assert caught.value.rule == rule
    assert caught.value.hint
