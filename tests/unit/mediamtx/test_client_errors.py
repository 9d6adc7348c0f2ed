"""The Control API client's error texts never carry URL credentials."""
from __future__ import annotations

import pytest

from camservice.mediamtx.client import _error_text


@pytest.mark.parametrize("body, text", [
    (b'{"error": "invalid source: \'rtsp://u:Secr3t@192.0.2.1/x%zz\'"}', "invalid source: 'rtsp://***@192.0.2.1/x%zz'"),
    (b"plain rtsp://u:Secr3t@h/x", "plain rtsp://***@h/x"),
])
def test_error_texts_are_redacted(body, text):
    assert _error_text(body) == text
