"""``camctl watch``'s one-line form of each kind of notification."""
from __future__ import annotations

from camservice.cli.commands.events import describe

AT = "2026-12-02T03:00:00Z"


def test_an_event_shows_its_topic_time_device_and_fields():
    line = describe({"jsonrpc": "2.0", "method": "event", "params": {
        "topic": "snapshot.taken", "timestamp": "2025-01-15T14:30:00Z", "device": "camera0",
        "filename": "camera0_x.jpg", "file_size": 23117}}, AT)
    assert line == "2025-01-15T14:30:00Z  snapshot.taken  camera0  filename=camera0_x.jpg file_size=23117"


def test_a_camera_update_shows_the_method_and_leaves_the_urls_out():
    line = describe({"method": "camera_status_update", "params": {
        "device": "camera1000", "status": "DISCONNECTED", "name": "Front door", "resolution": "320x240", "fps": 10,
        "streams": {"rtsp": "rtsp://h/camera1000?token=s1-x"}}}, AT)
    assert line == (f'{AT}  camera_status_update  camera1000  status=DISCONNECTED name="Front door" '
                    "resolution=320x240 fps=10")


def test_a_system_event_without_a_camera():
    line = describe({"method": "event", "params": {"topic": "system.health", "timestamp": AT,
                                                   "component": "mediamtx", "status": "down", "breaker": None}}, AT)
    assert line == f"{AT}  system.health  -  component=mediamtx status=down breaker=null"


def test_nothing_from_the_server_breaks_the_line():
    line = describe({"method": "event", "params": {"topic": "x\ny", "detail": "a\nb", "device": None}}, AT)
    assert "\n" not in line
