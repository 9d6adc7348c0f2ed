"""Every media refusal becomes the JSON-RPC error API.md gives it, with
``data`` naming the reason (the one place: ``rpc.errors.to_rpc_error``)."""
from __future__ import annotations

import pytest

from camservice.media import errors as media
from camservice.rpc.errors import to_rpc_error


@pytest.mark.parametrize(
    "exc, code, data",
    [
        (media.NotStreamable("camera5", "serial"), -32030, {"feature": "streaming serial cameras"}),
        (media.CameraNotConnected("camera5", "DISCONNECTED"), -32020,
         {"state": "camera_disconnected", "allowed_states": ["CONNECTED"]}),
        (media.NotStreaming("camera5"), -32020, {"state": "not_streaming"}),
        (media.SourceDidNotStart("camera5", "ffmpeg", 10), -32050,
         {"dependency": "ffmpeg", "detail": "the source did not start publishing within 10 s"}),
        (media.AlreadyRecording("camera5", "camera5_2025-01-15_14-30-00.mp4"), -32020,
         {"state": "recording", "filename": "camera5_2025-01-15_14-30-00.mp4"}),
        (media.NotRecording("camera5"), -32020, {"state": "not_recording", "allowed_states": ["recording"]}),
        (media.StorageCritical("97.0% used"), -32020, {"state": "storage_critical", "detail": "97.0% used"}),
        (media.MediaFileNotFound("recording", "x.mp4"), -32010, {"resource": "recording", "id": "x.mp4"}),
        (media.MediaFileExists("snapshot", "a.jpg"), -32020, {"state": "file_exists", "filename": "a.jpg"}),
        (media.CaptureFailed("camera5", "Connection refused"), -32050,
         {"dependency": "ffmpeg", "detail": "Connection refused"}),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_media_refusals_map_to_their_codes(exc, code, data):
    error = to_rpc_error(exc)
    assert error is not None and error.code == code
    body = error.to_json()
    assert {k: body["data"][k] for k in data} == data
    assert body["data"]["reason"]  # API.md: data always names the reason


def test_an_unknown_exception_is_not_mapped():
    assert to_rpc_error(ValueError("bug")) is None
