"""USB cameras coming and going, through real libudev (faked by umockdev),
the reactor-driven udev reader, the poll path, v4l2-ctl probing (replayed
recordings), the camera table, MediaMTX paths and a real WebSocket client."""
from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from camservice.app import Overrides
from camservice.config import load_config
from helpers.live import start_live
from helpers.processes import media_ports
from helpers.udevbed import Bed, FakeV4L2, umockdev_active
from helpers.waiting import until


@pytest.fixture
def bed():
    assert umockdev_active(), "run under umockdev-wrapper (tests/conftest.py does it when it is installed)"
    bed = Bed()
    yield bed
    bed.close()


@pytest.fixture
def v4l2(tmp_path):
    return FakeV4L2(tmp_path / "v4l2-ctl-bin")


@pytest.fixture
def discovery_settings():
    return {}


@pytest.fixture
def usb_live(bed, v4l2, write_config, discovery_settings):
    """The service, started after the testbed exists, discovering with udev
    (the testbed provides it) and probing with the replaying v4l2-ctl."""
    ports, auth_port = media_ports()
    document = {
        "server": {"port": 0, "shutdown_timeout": 5, "auto_ping_interval": 0},
        "mediamtx": dict(ports, health_check_interval=0.5),
        "streams": {"auth_port": auth_port},
        "discovery": dict({"mode": "udev", "v4l2_ctl": str(v4l2.executable), "probe_timeout": 2,
                           "debounce": 0.2}, **discovery_settings.get("discovery", {})),
        "cameras": dict({"declared": []}, **discovery_settings.get("cameras", {})),
    }
    config = load_config(write_config(document))
    live = {}

    def start():
        # the testbed provides udev (this machine may have no /run/udev)
        live["service"] = start_live(config, reactor, Overrides(has_udev=lambda: True))
        return live["service"]

    yield start
    if "service" in live:
        pytest_twisted.blockon(live["service"].tree.stopService())


async def _notes(client, n, timeout=10.0):
    notes = []
    for _ in range(n):
        d = client.notifications.get()
        d.addTimeout(timeout, reactor)
        notes.append(await d)
    return notes


def _ids(live):
    return [c.id for c in live.registry.cameras()]


@pytest_twisted.ensureDeferred
async def test_a_webcam_plugged_and_unplugged(bed, v4l2, usb_live):
    v4l2.set("/dev/video0", "uvc_c920")
    v4l2.set("/dev/video1", "uvc_metadata")
    live = usb_live()
    await live.wait_mediamtx_up()
    client = await live.authed_client("viewer")

    bed.add_webcam(0, metadata=1)
    (note,) = await _notes(client, 1)
    assert note["method"] == "camera_status_update"
    assert note["params"]["device"] == "camera0"
    assert note["params"]["status"] == "CONNECTED"
    assert note["params"]["name"] == "HD Pro Webcam C920"
    assert note["params"]["streams"]["rtsp"].endswith("/camera0")
    listing = (await client.call("get_camera_list"))["result"]
    assert [c["device"] for c in listing["cameras"]] == ["camera0"]  # the metadata node is no camera
    caps = (await client.call("get_camera_capabilities", {"device": "camera0"}))["result"]
    assert caps["validation_status"] == "CONFIRMED"
    assert caps["formats"] == ["MJPG", "YUYV"]
    assert caps["resolutions"][0] == "1920x1080" and 30 in caps["fps_options"]
    await until(lambda: "camera0" in live.controller.desired_paths())

    bed.unplug(0)
    (note,) = await _notes(client, 1)
    assert note["params"]["device"] == "camera0" and note["params"]["status"] == "DISCONNECTED"
    assert _ids(live) == []
    await client.close()


@pytest_twisted.ensureDeferred
async def test_sixteen_webcams_plugged_at_once(bed, v4l2, usb_live):
    for n in range(16):
        v4l2.set(f"/dev/video{2 * n}", "uvc_c920")
        v4l2.set(f"/dev/video{2 * n + 1}", "uvc_metadata")
    live = usb_live()
    client = await live.authed_client("viewer")
    for n in range(16):
        bed.add_webcam(2 * n, metadata=2 * n + 1, serial=f"CAM{n:02d}")
        # one reactor turn between plugs, as between a hub's ports: the
        # test's uevents share this thread with the reader
        await task.deferLater(reactor, 0, lambda: None)
    notes = await _notes(client, 16)
    devices = [n["params"]["device"] for n in notes]
    assert sorted(devices) == sorted(f"camera{2 * n}" for n in range(16))
    assert len(set(devices)) == 16
    assert _ids(live) == [f"camera{2 * n}" for n in range(16)]
    # the safety scan agrees and adds nothing
    live.monitor.rescan()
    await client.call("ping")
    assert client.notifications.pending == []
    await client.close()


@pytest_twisted.ensureDeferred
async def test_present_before_start_is_found(bed, v4l2, usb_live):
    v4l2.set("/dev/video4", "h264_cam")
    bed.add_webcam(4)
    live = usb_live()
    await until(lambda: _ids(live) == ["camera4"])
    camera = live.registry.get("camera4")
    assert camera.input_format == "H264" and camera.resolution == "1920x1080" and camera.fps == 30
    assert camera.identity["serial"] == "Webcam_0004"


@pytest.mark.parametrize("discovery_settings", [{"discovery": {"mode": "poll", "poll_interval": 0.2}}])
@pytest_twisted.ensureDeferred
async def test_the_poll_path_finds_and_loses_cameras_by_itself(bed, v4l2, usb_live, discovery_settings):
    v4l2.set("/dev/video0", "uvc_c920")
    live = usb_live()
    assert live.monitor.mode_in_use == "poll" and live.monitor.watcher is None
    client = await live.authed_client("viewer")
    bed.add_webcam(0)
    (note,) = await _notes(client, 1)
    assert note["params"]["status"] == "CONNECTED"
    bed.unplug(0, uevent=False)
    (note,) = await _notes(client, 1)
    assert note["params"]["status"] == "DISCONNECTED"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_udev_and_poll_paths_agree(bed, v4l2, usb_live):
    v4l2.set("/dev/video0", "uvc_c920")
    v4l2.set("/dev/video2", "uvc_c920")
    live = usb_live()
    client = await live.authed_client("viewer")
    bed.add_webcam(0)  # seen by udev
    await _notes(client, 1)
    live.monitor.rescan()  # the scan sees it too: nothing new
    await client.call("ping")
    assert client.notifications.pending == []

    live.monitor.watcher.stop()  # udev misses the next plug...
    bed.add_webcam(2)
    await task.deferLater(reactor, 0.2, lambda: None)
    assert _ids(live) == ["camera0"]
    live.monitor.rescan()  # ...the scan finds it, once
    (note,) = await _notes(client, 1)
    assert note["params"]["device"] == "camera2"
    live.monitor.watcher.start()
    live.monitor.rescan()
    await client.call("ping")
    assert client.notifications.pending == []
    assert _ids(live) == ["camera0", "camera2"]
    await client.close()


@pytest_twisted.ensureDeferred
async def test_probe_failures_leave_the_camera_in_error_and_discovery_going(bed, v4l2, usb_live):
    v4l2.set("/dev/video0", "fail")
    v4l2.set("/dev/video2", "hang")
    v4l2.set("/dev/video4", "uvc_c920")
    live = usb_live()
    bed.add_webcam(0)
    bed.add_webcam(2)
    bed.add_webcam(4)
    await until(lambda: len(_ids(live)) == 3, timeout=15)
    await until(lambda: live.registry.get("camera2").status.value == "ERROR", timeout=15)
    failed = live.registry.get("camera0")
    assert failed.status.value == "ERROR" and "Cannot open device" in failed.error
    assert "did not answer" in live.registry.get("camera2").error
    assert live.registry.get("camera4").status.value == "CONNECTED"
    client = await live.authed_client("admin")
    status = (await client.call("get_system_status"))["result"]
    assert status["status"] == "partial" and "camera0" in status["message"]
    assert status["discovery_active"] is True
    await client.close()


@pytest.mark.parametrize("discovery_settings", [{"cameras": {"devices": [
    {"match": {"serial": "DOOR-1"}, "name": "Door", "format": "YUYV", "resolution": "640x480", "fps": 15,
     "controls": {"brightness": 140}},
    {"match": {"serial": "SKIP-ME"}, "ignore": True},
]}}])
@pytest_twisted.ensureDeferred
async def test_settings_follow_the_camera_and_controls_work(bed, v4l2, usb_live, discovery_settings):
    v4l2.set("/dev/video6", "uvc_c920")
    v4l2.set("/dev/video8", "uvc_c920")
    live = usb_live()
    bed.add_webcam(6, serial="DOOR-1", id_path="pci-0000:00:14.0-usb-0:3:1.0")
    bed.add_webcam(8, serial="SKIP-ME")
    await until(lambda: _ids(live) == ["camera6"] and v4l2.control_values("/dev/video6"))
    camera = live.registry.get("camera6")
    assert (camera.name, camera.input_format, camera.resolution, camera.fps) == ("Door", "YUYV", "640x480", 15)
    assert v4l2.control_values("/dev/video6") == {"brightness": 140}

    client = await live.authed_client("operator")
    controls = (await client.call("get_camera_controls", {"device": "camera6"}))["result"]["controls"]
    brightness = next(c for c in controls if c["name"] == "brightness")
    assert (brightness["min"], brightness["max"], brightness["value"]) == (0, 255, 140)
    done = (await client.call("set_camera_control", {"device": "camera6", "name": "brightness", "value": 90}))
    assert done["result"] == {"device": "camera6", "name": "brightness", "value": 90, "previous": 140}
    bad = await client.call("set_camera_control", {"device": "camera6", "name": "brightness", "value": 300})
    assert bad["error"]["code"] == -32602 and bad["error"]["data"]["param"] == "value"
    inactive = await client.call("set_camera_control",
                                 {"device": "camera6", "name": "exposure_time_absolute", "value": 100})
    assert inactive["error"]["code"] == -32020
    unknown = await client.call("set_camera_control", {"device": "camera6", "name": "warp_drive", "value": 1})
    assert unknown["error"]["code"] == -32602 and unknown["error"]["data"]["param"] == "name"

    # replugged into another port and another node: same settings again
    bed.unplug(6)
    await until(lambda: _ids(live) == [])
    v4l2.set("/dev/video10", "uvc_c920")
    bed.add_webcam(10, serial="DOOR-1", id_path="pci-0000:00:14.0-usb-0:4:1.0")
    await until(lambda: _ids(live) == ["camera10"] and v4l2.control_values("/dev/video10"))
    assert live.registry.get("camera10").name == "Door"
    assert v4l2.control_values("/dev/video10") == {"brightness": 140}
    await client.close()
