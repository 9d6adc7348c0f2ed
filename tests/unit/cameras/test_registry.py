"""The camera table and the events it publishes."""
from __future__ import annotations

import pytest

from camservice.cameras import CameraLimitReached, CameraRegistry, CameraStatus, UnknownCamera
from camservice.cameras.declared import camera_from_declaration
from camservice.config.model import CamerasConfig, DeclaredCamera
from camservice.events import EventBus

VIRTUAL = DeclaredCamera("camera1000", "virtual", "Pattern", "320x240", 10)
NETWORK = DeclaredCamera("camera1001", "network", "Gate", "1920x1080", 25, "rtsp://127.0.0.1:8554/gate")


@pytest.fixture
def setup(clock):
    bus = EventBus()
    events = []
    bus.subscribe(events.append)
    registry = CameraRegistry(CamerasConfig(max_cameras=3, declared=(VIRTUAL, NETWORK)), bus, clock)
    registry.startService()
    return registry, events, clock


def test_declared_cameras_are_loaded_at_start_and_announced(setup):
    registry, events, clock = setup
    assert [c.id for c in registry.cameras()] == ["camera1000", "camera1001"]
    assert [(e.topic, e.device) for e in events] == [
        ("camera.connected", "camera1000"),
        ("camera.connected", "camera1001"),
    ]
    virtual = registry.get("camera1000")
    assert virtual.validation_status.value == "CONFIRMED"
    assert virtual.fps_options == (10,)
    assert virtual.connected_at == clock.seconds()
    network = registry.get("camera1001")
    assert network.validation_status.value == "NONE"
    assert network.source == "rtsp://127.0.0.1:8554/gate"


def test_ids_sort_by_number(setup):
    registry, _, _ = setup
    registry.add(camera_from_declaration(DeclaredCamera("camera999", "virtual", "x", "320x240", 5)))
    assert [c.id for c in registry.cameras()] == ["camera999", "camera1000", "camera1001"]


def test_update_publishes_only_real_changes_with_the_right_topic(setup):
    registry, events, _ = setup
    del events[:]
    registry.update("camera1000", name="Pattern")  # unchanged
    assert events == []
    registry.update("camera1000", name="Renamed")
    registry.update("camera1000", status=CameraStatus.ERROR, error="boom")
    registry.update("camera1000", status=CameraStatus.DISCONNECTED)
    registry.update("camera1000", status=CameraStatus.CONNECTED)
    assert [e.topic for e in events] == [
        "camera.status_change",
        "camera.status_change",
        "camera.disconnected",
        "camera.connected",
    ]
    assert events[0].subject.name == "Renamed"


def test_reconnect_restamps_connected_at(setup):
    registry, _, clock = setup
    registry.update("camera1000", status=CameraStatus.DISCONNECTED)
    clock.advance(30)
    registry.update("camera1000", status=CameraStatus.CONNECTED)
    assert registry.get("camera1000").connected_at == clock.seconds()


def test_remove_announces_disconnected(setup):
    registry, events, _ = setup
    gone = registry.remove("camera1001")
    assert gone.status is CameraStatus.DISCONNECTED
    assert events[-1].topic == "camera.disconnected"
    assert "camera1001" not in registry
    with pytest.raises(UnknownCamera):
        registry.get("camera1001")
    with pytest.raises(UnknownCamera):
        registry.remove("camera1001")


def test_limit(setup):
    registry, _, _ = setup
    registry.add(camera_from_declaration(DeclaredCamera("camera1002", "virtual", "x", "320x240", 5)))
    with pytest.raises(CameraLimitReached):
        registry.add(camera_from_declaration(DeclaredCamera("camera1003", "virtual", "y", "320x240", 5)))
    # replacing an existing camera is not growth
    registry.add(camera_from_declaration(DeclaredCamera("camera1002", "virtual", "z", "320x240", 5)))
    assert registry.get("camera1002").name == "z"


def test_stop_empties_the_table(setup):
    registry, _, _ = setup
    registry.stopService()
    assert registry.cameras() == []
