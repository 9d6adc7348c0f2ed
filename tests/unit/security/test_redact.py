"""Credentials in URLs are replaced wherever a URL appears."""
from __future__ import annotations

import pytest

from camservice.security.redact import redact_text, redact_url

CASES = [
    ("rtsp://admin:Secr3t@192.0.2.1/x", "rtsp://***@192.0.2.1/x"),
    ("rtsp://admin@192.0.2.1:554/x", "rtsp://***@192.0.2.1:554/x"),
    ("rtsp://a:p@ss@192.0.2.1/x", "rtsp://***@192.0.2.1/x"),
    ("rtsp://192.0.2.1/x?user=a&password=Secr3t", "rtsp://192.0.2.1/x?user=a&password=***"),
    ("srt://192.0.2.1:8890?streamid=x&passphrase=Secr3t", "srt://192.0.2.1:8890?streamid=x&passphrase=***"),
    ("https://cam/x.m3u8?token=abc&b=1", "https://cam/x.m3u8?token=***&b=1"),
    ("rtsp://192.0.2.1/x@y", "rtsp://192.0.2.1/x@y"),
    ("rtsp://192.0.2.1/x", "rtsp://192.0.2.1/x"),
]


@pytest.mark.parametrize("url, redacted", CASES)
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


def test_every_url_in_a_text_is_redacted():
    text = ("[path camera2000] [RTSP source] ERR: dial rtsp://u:Secr3t@192.0.2.1:554/x failed; "
            "retrying http://k:Secr3t@h/y")
    out = redact_text(text)
    assert "Secr3t" not in out
    assert out == ("[path camera2000] [RTSP source] ERR: dial rtsp://***@192.0.2.1:554/x failed; "
                   "retrying http://***@h/y")
    assert redact_text("no URL here: user:pass@host") == "no URL here: user:pass@host"


@pytest.mark.parametrize("line, redacted", [
    ("Authorization: Basic dmlld2VyOktub3duUHc=\r", "Authorization: Basic ***\r"),
    ('authorization: Digest username="v", response="abc"', "authorization: Digest ***"),
    ("Proxy-Authorization: Bearer eyJhbGciOi.x.y", "Proxy-Authorization: Bearer ***"),
    ("Authorization: c2VjcmV0", "Authorization: ***"),
])
def test_authorization_headers_are_blanked(line, redacted):
    assert redact_text(line) == redacted
