"""CameraMonitor: USB cameras coming and going, on a clock.

udev events go through the real UdevWatcher, reading a fake pyudev monitor
(``fakes.udev.FakeMonitor``) the way the reactor would (``doRead``); scans
read a ``FakeUdevContext``; v4l2-ctl is a ``FakeProber`` answering from
the recordings in ``tests/data/v4l2``, failing or never answering."""
from __future__ import annotations

import pyudev
import pytest
from twisted.internet import defer
from twisted.logger import LogLevel, formatEvent

from camservice.cameras.model import CameraKind, CameraStatus, ValidationStatus
from camservice.cameras.monitor import CameraMonitor
from camservice.cameras.prober import ProbeFailed
from camservice.cameras.registry import CameraRegistry
from camservice.cameras.v4l2 import Probe
from camservice.config.model import CamerasConfig, DeviceMatch, DeviceSettings, DiscoveryConfig
from camservice.events import EventBus
from camservice.service import ComponentState

from fakes.prober import HANG, FakeProber, probe_of
from fakes.udev import FakeNetlink, FakeUdevContext

NOW = 1_700_000_000.0
DEBOUNCE = 0.5
POLL = 2.0
SAFETY_POLL = 30.0

C920_MODES = dict(formats=("MJPG", "YUYV"), resolutions=("1920x1080", "1280x720", "640x480"),
                  fps_options=(30, 24, 20, 15, 10, 8, 5))


def discovery(**changes) -> DiscoveryConfig:
    settings = dict(mode="udev", poll_interval=POLL, safety_poll_interval=SAFETY_POLL, debounce=DEBOUNCE,
                    probe_timeout=5.0, reopen_max_delay=30.0, v4l2_ctl="v4l2-ctl", max_resolution="1920x1080",
                    max_fps=30, ignore=())
    settings.update(changes)
    return DiscoveryConfig(**settings)


@pytest.fixture
def reactor(memory_reactor):
    return memory_reactor


@pytest.fixture
def logged(log_events):
    """What the camera code logged; a failure logged (an unexpected
    exception) fails the test unless the test empties this list."""
    events = log_events("camservice.cameras")
    yield events
    failures = [formatEvent(e) for e in events if "log_failure" in e]
    assert not failures, f"failures logged: {failures}"


def messages(logged, level=None) -> list[str]:
    return [formatEvent(e) for e in logged if level is None or e["log_level"] is level]


class Rig:
    """A registry and a monitor on ``reactor``, with the fakes around
    them; :meth:`plug` and :meth:`unplug` are what udev would report."""

    def __init__(self, reactor, netlink, has_udev=True, devices=(), max_cameras=16, **changes):
        self.reactor = reactor
        self.netlink = netlink
        self.context = FakeUdevContext()
        self.contexts_made = 0
        self.prober = FakeProber()
        self.bus = EventBus()
        self.events = []
        self.bus.subscribe(self.events.append)
        cameras = CamerasConfig(max_cameras, (), tuple(devices))
        self.registry = CameraRegistry(cameras, self.bus, reactor)
        self.registry.startService()

        def make_context():
            self.contexts_made += 1
            return self.context

        self.monitor = CameraMonitor(discovery(**changes), cameras, self.registry, self.prober, reactor,
                                     context_factory=make_context, has_udev=lambda: has_udev)

    def start(self) -> defer.Deferred:
        return self.monitor.startService()

    def stop(self) -> defer.Deferred:
        return self.monitor.stopService()

    # -- the world ---------------------------------------------------------

    def attach(self, number, capture=True, serial="", id_path="", **props):
        """A device appears in sysfs (a scan finds it; no event)."""
        device = self.context.plug(number, capture=capture, serial=serial, id_path=id_path)
        device.properties.update(props)
        for key in [k for k, v in device.properties.items() if v is None]:
            del device.properties[key]
        return device

    def detach(self, number):
        device = self.device(number)
        self.context.unplug(number)
        return device

    def device(self, number):
        return next(d for d in self.context.devices if d.device_node == f"/dev/video{number}")

    def event(self, device, action):
        """udev reports ``action`` and the reactor finds the socket readable."""
        self.netlink.current.emit(device, action)
        self.monitor.watcher.doRead()

    def plug(self, number, **kwargs):
        device = self.attach(number, **kwargs)
        self.event(device, "add")
        return device

    def unplug(self, number):
        self.event(self.detach(number), "remove")

    # -- what users see ------------------------------------------------------

    def ids(self) -> list[str]:
        return [c.id for c in self.registry.cameras()]

    def camera(self, camera_id="camera0"):
        return self.registry.get(camera_id)

    def topics(self) -> list[tuple[str, str]]:
        return [(e.topic, e.device) for e in self.events]


@pytest.fixture
def netlink(monkeypatch):
    n = FakeNetlink()
    monkeypatch.setattr(pyudev.Monitor, "from_netlink", n)
    return n


@pytest.fixture
def make(reactor, netlink, logged):
    rigs = []

    def make(**kwargs) -> Rig:
        rig = Rig(reactor, netlink, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        if rig.monitor.running:
            rig.stop()
        rig.registry.stopService()


@pytest.fixture
def rig(make):
    """udev mode, started, nothing plugged."""
    rig = make()
    rig.start()
    return rig


# -- a camera is plugged ---------------------------------------------------

def test_a_capture_node_becomes_a_connected_camera_with_confirmed_capabilities(rig, reactor):
    rig.plug(0, serial="046d_HD_Pro_Webcam_C920_7B2F3C9F", id_path="pci-0000:00:14.0-usb-0:1:1.0")
    camera = rig.camera("camera0")
    assert camera.kind is CameraKind.USB and camera.status is CameraStatus.CONNECTED
    assert camera.validation_status is ValidationStatus.CONFIRMED
    assert (camera.formats, camera.resolutions, camera.fps_options) == (
        C920_MODES["formats"], C920_MODES["resolutions"], C920_MODES["fps_options"])
    assert (camera.input_format, camera.resolution, camera.fps) == ("MJPG", "1920x1080", 30)
    assert camera.name == "HD Pro Webcam C920" and camera.source == "/dev/video0"
    assert camera.identity == {"serial": "046d_HD_Pro_Webcam_C920_7B2F3C9F", "id_path": "pci-0000:00:14.0-usb-0:1:1.0",
                               "vendor_id": "046d", "product_id": "082d"}
    assert camera.connected_at == reactor.seconds() and camera.error is None
    assert rig.topics() == [("camera.connected", "camera0")]
    assert rig.prober.probes() == ["/dev/video0"]
    assert rig.monitor.node_of("camera0") == "/dev/video0"


def test_the_camera_number_follows_the_node_number(rig):
    rig.plug(7, serial="a")
    rig.plug(12, serial="b")
    assert rig.ids() == ["camera7", "camera12"]
    assert rig.monitor.node_of("camera12") == "/dev/video12"


def test_an_h264_camera_is_set_up_to_pass_h264_through(rig):
    rig.prober.answers["/dev/video2"] = "h264_cam"
    rig.plug(2)
    camera = rig.camera("camera2")
    assert (camera.input_format, camera.resolution, camera.fps) == ("H264", "1920x1080", 30)
    assert camera.name == "USB 2.0 Camera: USB Camera"


def test_max_resolution_and_max_fps_limit_the_automatic_mode(make):
    rig = make(max_resolution="1280x720", max_fps=15)
    rig.start()
    rig.plug(0)
    camera = rig.camera()
    assert (camera.input_format, camera.resolution, camera.fps) == ("MJPG", "1280x720", 15)
    assert camera.resolutions == C920_MODES["resolutions"]  # what it offers is still listed


def test_a_metadata_node_by_udev_is_never_probed_nor_a_camera(rig):
    rig.plug(1, capture=False)
    rig.monitor.rescan()
    assert rig.prober.probes() == [] and rig.ids() == [] and rig.events == []


def test_a_metadata_node_by_probe_is_never_a_camera_and_not_probed_again(make, reactor):
    rig = make(has_udev=False)  # polling: sysfs alone has no ID_V4L_CAPABILITIES
    rig.attach(1, ID_V4L_CAPABILITIES=None)
    rig.prober.answers["/dev/video1"] = "uvc_metadata"
    rig.start()
    assert rig.prober.probes() == ["/dev/video1"]
    reactor.advance(POLL)
    reactor.advance(POLL)
    assert rig.prober.probes() == ["/dev/video1"] and rig.ids() == [] and rig.events == []
    assert rig.monitor.node_of("camera1") is None


def test_a_webcam_with_its_metadata_node_is_one_camera(rig):
    rig.plug(0)
    rig.plug(1, capture=False)
    assert rig.ids() == ["camera0"] and rig.topics() == [("camera.connected", "camera0")]


# -- unplugging, debounce and flaps --------------------------------------------

def test_a_plug_is_reported_at_once_an_unplug_after_the_debounce(rig, reactor):
    rig.plug(0)
    assert rig.ids() == ["camera0"]  # no clock time needed
    rig.unplug(0)
    reactor.advance(DEBOUNCE - 0.001)
    assert rig.ids() == ["camera0"] and rig.camera().status is CameraStatus.CONNECTED
    reactor.advance(0.002)
    assert rig.ids() == []
    assert rig.topics() == [("camera.connected", "camera0"), ("camera.disconnected", "camera0")]
    assert rig.events[-1].subject.status is CameraStatus.DISCONNECTED
    assert rig.monitor.node_of("camera0") is None


def test_without_debounce_an_unplug_is_reported_at_once(make):
    rig = make(debounce=0)
    rig.start()
    rig.plug(0)
    rig.unplug(0)
    assert rig.ids() == [] and rig.topics()[-1] == ("camera.disconnected", "camera0")


def test_a_flap_within_the_debounce_produces_no_events_at_all(rig, reactor):
    device = rig.plug(0)
    del rig.events[:]
    rig.unplug(0)
    reactor.advance(DEBOUNCE - 0.1)
    rig.context.devices.append(device)
    rig.event(device, "add")
    reactor.advance(DEBOUNCE * 4)
    assert rig.events == [] and rig.ids() == ["camera0"]
    assert rig.camera().status is CameraStatus.CONNECTED
    assert rig.prober.probes() == ["/dev/video0"]


def test_a_repeated_remove_does_not_restart_the_debounce(rig, reactor):
    device = rig.plug(0)
    rig.unplug(0)
    reactor.advance(DEBOUNCE / 2)
    rig.event(device, "remove")
    reactor.advance(DEBOUNCE / 2 + 0.001)
    assert rig.ids() == []


def test_replugged_after_the_debounce_is_a_new_connection(rig, reactor):
    device = rig.plug(0)
    rig.unplug(0)
    reactor.advance(DEBOUNCE + 0.001)
    rig.context.devices.append(device)
    rig.event(device, "add")
    assert rig.topics() == [("camera.connected", "camera0"), ("camera.disconnected", "camera0"),
                            ("camera.connected", "camera0")]
    assert rig.prober.probes() == ["/dev/video0", "/dev/video0"]


# -- udev and scans agree ---------------------------------------------------------

def test_an_event_then_a_scan_of_the_same_device_is_one_camera_and_one_probe(rig):
    rig.plug(0)
    rig.monitor.rescan()
    rig.monitor.rescan()
    assert rig.ids() == ["camera0"] and rig.prober.probes() == ["/dev/video0"]
    assert rig.topics() == [("camera.connected", "camera0")]


def test_a_scan_then_an_event_of_the_same_device_is_one_camera_and_one_probe(make):
    rig = make()
    device = rig.attach(0)
    rig.start()  # found by the initial scan
    rig.event(device, "add")
    assert rig.ids() == ["camera0"] and rig.prober.probes() == ["/dev/video0"]


def test_a_device_gone_from_a_scan_is_removed_after_the_debounce(rig, reactor):
    rig.plug(0)
    rig.detach(0)  # the remove event was lost
    rig.monitor.rescan()
    reactor.advance(DEBOUNCE - 0.001)
    assert rig.ids() == ["camera0"]
    reactor.advance(0.002)
    assert rig.ids() == []


def test_another_device_on_the_same_node_replaces_the_camera(rig):
    rig.plug(0, serial="first")
    rig.detach(0)
    rig.plug(0, serial="second")  # the remove was missed: only the add arrives
    assert rig.topics() == [("camera.connected", "camera0"), ("camera.disconnected", "camera0"),
                            ("camera.connected", "camera0")]
    assert rig.camera().identity["serial"] == "second"
    assert rig.prober.probes() == ["/dev/video0", "/dev/video0"]


def test_a_change_event_keeps_the_connection_time(rig, reactor):
    device = rig.plug(0)
    since = rig.camera().connected_at
    reactor.advance(60)
    rig.event(device, "change")
    assert rig.camera().connected_at == since


def test_a_change_event_probes_again(rig):
    device = rig.plug(0)
    rig.prober.answers["/dev/video0"] = "h264_cam"  # e.g. after a firmware switch
    rig.event(device, "change")
    assert rig.prober.probes() == ["/dev/video0", "/dev/video0"]
    assert rig.camera().input_format == "H264"
    assert rig.topics() == [("camera.connected", "camera0"), ("camera.status_change", "camera0")]


# -- ignore rules -------------------------------------------------------------------

IGNORED = dict(serial="SERIAL0", id_path="pci-0000:00:14.0-usb-0:1:1.0", ID_MODEL_ID="0825")
KEPT = dict(serial="SERIAL1", id_path="pci-0000:00:14.0-usb-0:2:1.0")  # also vendor 046d, product 082d


@pytest.mark.parametrize("ignore, devices", [
    ((DeviceMatch(vendor_id="046D", product_id="0825"),), ()),  # ids compare case-insensitively
    ((DeviceMatch(id_path="pci-0000:00:14.0-usb-0:1:1.0"),), ()),
    ((DeviceMatch(serial="SERIAL0"),), ()),
    ((), (DeviceSettings(DeviceMatch(serial="SERIAL0"), name="Not this one", ignore=True),)),
], ids=["vendor-product", "id_path", "serial", "settings"])
def test_ignored_devices_are_never_probed_nor_cameras(make, ignore, devices, logged):
    rig = make(ignore=ignore, devices=devices)
    rig.start()
    rig.plug(0, **IGNORED)
    rig.plug(1, **KEPT)
    rig.monitor.rescan()
    assert rig.prober.probes() == ["/dev/video1"]
    assert rig.ids() == ["camera1"]
    assert "ignoring /dev/video0 (configured)" in messages(logged)


def test_an_ignore_rule_needs_every_key_to_match(make):
    rig = make(ignore=(DeviceMatch(vendor_id="046d", product_id="0825"),))
    rig.start()
    rig.plug(1, **KEPT)  # same vendor, another product
    assert rig.ids() == ["camera1"]


# -- per-camera settings ----------------------------------------------------------------

def test_settings_follow_the_identity_and_pick_an_offered_mode(make):
    settings = DeviceSettings(DeviceMatch(serial="SERIAL0"), name="Front door", format="MJPG",
                              resolution="1280x720", fps=15, encoder="h264_v4l2m2m")
    rig = make(devices=(settings,))
    rig.start()
    rig.plug(4, serial="SERIAL0")
    rig.plug(0, serial="SERIAL1")
    mine, other = rig.camera("camera4"), rig.camera("camera0")
    assert (mine.name, mine.input_format, mine.resolution, mine.fps, mine.encoder) == (
        "Front door", "MJPG", "1280x720", 15, "h264_v4l2m2m")
    assert (other.name, other.input_format, other.resolution, other.fps, other.encoder) == (
        "HD Pro Webcam C920", "MJPG", "1920x1080", 30, None)


@pytest.mark.parametrize("chosen, expected", [
    (dict(resolution="1280x720"), ("MJPG", "1280x720", 30)),   # the preferred format that has it
    (dict(fps=24), ("MJPG", "640x480", 24)),                    # the largest size offering 24 fps
    (dict(format="YUYV", fps=10), ("YUYV", "1280x720", 10)),
    (dict(format="YUYV", resolution="640x480", fps=20), ("YUYV", "640x480", 20)),
])
def test_a_partly_configured_mode_is_completed_from_what_is_offered(make, chosen, expected):
    rig = make(devices=(DeviceSettings(DeviceMatch(vendor_id="046d"), **chosen),))
    rig.start()
    rig.plug(0)
    camera = rig.camera()
    assert (camera.input_format, camera.resolution, camera.fps) == expected


@pytest.mark.parametrize("chosen", [
    dict(format="YUYV", resolution="1920x1080", fps=30),  # YUYV full HD only at 5 fps
    dict(resolution="800x600"),
    dict(format="H264"),
    dict(fps=60),
])
def test_a_mode_not_offered_falls_back_to_the_best_one_with_a_warning(make, chosen, logged):
    rig = make(devices=(DeviceSettings(DeviceMatch(vendor_id="046d"), name="Desk", **chosen),))
    rig.start()
    rig.plug(0)
    camera = rig.camera()
    assert (camera.input_format, camera.resolution, camera.fps) == ("MJPG", "1920x1080", 30)
    assert camera.status is CameraStatus.CONNECTED and camera.name == "Desk"
    assert any("configured mode not offered" in m for m in messages(logged, LogLevel.warn))


def test_controls_are_applied_in_order_and_a_refused_one_is_not_fatal(make, logged):
    controls = {"focus_automatic_continuous": 0, "focus_absolute": 50, "brightness": 140}
    rig = make(devices=(DeviceSettings(DeviceMatch(serial="SERIAL0"), controls=controls),))
    rig.prober.refuse["focus_absolute"] = "VIDIOC_S_EXT_CTRLS: failed: Permission denied"
    rig.start()
    rig.plug(0, serial="SERIAL0")
    rig.plug(1, serial="SERIAL1")
    assert rig.prober.sets() == [("/dev/video0", "focus_automatic_continuous", 0),
                                 ("/dev/video0", "focus_absolute", 50),
                                 ("/dev/video0", "brightness", 140)]
    assert rig.camera().status is CameraStatus.CONNECTED
    warnings = messages(logged, LogLevel.warn)
    assert any("focus_absolute=50" in m and "camera0" in m and "Permission denied" in m for m in warnings), warnings


def test_controls_are_applied_again_on_every_plug(make, reactor):
    rig = make(devices=(DeviceSettings(DeviceMatch(serial="SERIAL0"), controls={"brightness": 140}),))
    rig.start()
    device = rig.plug(0, serial="SERIAL0")
    rig.unplug(0)
    reactor.advance(DEBOUNCE + 0.001)
    rig.context.devices.append(device)
    rig.event(device, "add")
    assert rig.prober.sets() == [("/dev/video0", "brightness", 140)] * 2


def test_controls_are_not_applied_to_a_camera_in_error(make):
    rig = make(devices=(DeviceSettings(DeviceMatch(serial="SERIAL0"), controls={"brightness": 140}),))
    rig.prober.answers["/dev/video0"] = ProbeFailed("Cannot open device /dev/video0, exiting.")
    rig.start()
    rig.plug(0, serial="SERIAL0")
    assert rig.prober.sets() == []


# -- probe failures and probes that never answer -------------------------------------

def test_a_failed_probe_leaves_the_camera_in_error_with_the_reason(rig):
    rig.prober.answers["/dev/video0"] = ProbeFailed("v4l2-ctl did not answer within 5.0 s")
    rig.plug(0)
    rig.plug(2)
    camera = rig.camera("camera0")
    assert camera.status is CameraStatus.ERROR and camera.error == "v4l2-ctl did not answer within 5.0 s"
    assert camera.validation_status is ValidationStatus.NONE and camera.name == "Webcam"
    assert camera.source == "/dev/video0" and camera.kind is CameraKind.USB
    assert rig.camera("camera2").status is CameraStatus.CONNECTED  # discovery goes on
    assert rig.monitor.node_of("camera0") == "/dev/video0"


def test_a_camera_in_error_recovers_when_replugged(rig, reactor):
    rig.prober.answers["/dev/video0"] = ProbeFailed("Cannot open device /dev/video0, exiting.")
    device = rig.plug(0)
    rig.unplug(0)
    reactor.advance(DEBOUNCE + 0.001)
    del rig.prober.answers["/dev/video0"]
    rig.context.devices.append(device)
    rig.event(device, "add")
    assert rig.camera().status is CameraStatus.CONNECTED and rig.camera().error is None


def test_a_capture_device_without_any_mode_is_in_error(rig):
    rig.prober.answers["/dev/video0"] = Probe("uvcvideo", "Odd", "usb-1", True, modes={})
    rig.plug(0)
    assert rig.camera().status is CameraStatus.ERROR
    assert rig.camera().error == "the device offers no capture mode"


def test_a_probe_that_never_answers_does_not_hold_up_other_devices(rig):
    rig.prober.answers["/dev/video0"] = HANG
    rig.plug(0)
    rig.plug(2)
    rig.plug(4)
    assert rig.ids() == ["camera2", "camera4"]
    assert [node for node, _ in rig.prober.pending] == ["/dev/video0"]
    rig.prober.pending[0][1].callback(probe_of("uvc_c920"))
    assert rig.ids() == ["camera0", "camera2", "camera4"]


def test_at_most_four_probes_run_at_once(rig):
    rig.prober.default = HANG
    for n in range(6):
        rig.plug(n)
    assert rig.prober.probes() == ["/dev/video0", "/dev/video1", "/dev/video2", "/dev/video3"]
    rig.prober.pending[0][1].callback(probe_of("uvc_c920"))
    assert rig.ids() == ["camera0"]
    assert rig.prober.probes()[4:] == ["/dev/video4"]
    rig.prober.pending[1][1].errback(ProbeFailed("Cannot open device /dev/video1, exiting."))
    assert rig.camera("camera1").status is CameraStatus.ERROR
    assert rig.prober.probes()[5:] == ["/dev/video5"]


def test_stop_cancels_probes_that_never_answer_and_those_still_waiting(make, reactor):
    rig = make()
    rig.prober.default = HANG
    rig.start()
    for n in range(6):
        rig.plug(n)
    rig.unplug(5)  # a removal pending too
    d = rig.stop()
    assert d.called and rig.monitor.state is ComponentState.STOPPED
    # every probe that was started is cancelled (so V4L2Prober kills its v4l2-ctl)
    assert {"/dev/video0", "/dev/video1", "/dev/video2", "/dev/video3"} <= set(rig.prober.cancelled)
    assert sorted(rig.prober.cancelled) == sorted(rig.prober.probes())
    assert reactor.getDelayedCalls() == [] and reactor.readers == set()
    assert rig.ids() == []


def test_stop_starts_no_new_probe(make):
    rig = make()
    rig.prober.default = HANG
    rig.start()
    for n in range(6):
        rig.plug(n)
    rig.stop()
    assert rig.prober.probes() == ["/dev/video0", "/dev/video1", "/dev/video2", "/dev/video3"]


def test_a_device_removed_while_being_probed_has_its_probe_cancelled(rig, reactor):
    rig.prober.answers["/dev/video0"] = HANG
    rig.plug(0)
    rig.unplug(0)
    reactor.advance(DEBOUNCE + 0.001)
    assert rig.prober.cancelled == ["/dev/video0"] and rig.ids() == [] and rig.events == []


def test_a_device_replaced_while_being_probed_is_probed_anew(rig):
    rig.prober.answers["/dev/video0"] = HANG
    rig.plug(0, serial="first")
    rig.detach(0)
    rig.prober.answers["/dev/video0"] = "uvc_c920"
    rig.plug(0, serial="second")
    assert rig.prober.cancelled == ["/dev/video0"]
    assert rig.camera().identity["serial"] == "second"
    assert rig.topics() == [("camera.connected", "camera0")]


def test_a_full_camera_table_refuses_further_cameras_with_an_error(make, logged):
    rig = make(max_cameras=1)
    rig.start()
    rig.plug(0)
    rig.plug(1)
    assert rig.ids() == ["camera0"]
    assert "camera table full: /dev/video1 not added" in messages(logged, LogLevel.error)
    assert rig.monitor.node_of("camera1") is None


# -- state: starting, running, stopping -------------------------------------------------

def test_starting_until_the_devices_present_at_start_are_probed(make):
    rig = make()
    rig.prober.default = HANG
    rig.attach(0)
    rig.attach(1)
    rig.start()
    assert rig.monitor.state is ComponentState.STARTING
    rig.prober.pending[0][1].callback(probe_of("uvc_c920"))
    assert rig.monitor.state is ComponentState.STARTING
    rig.prober.pending[1][1].errback(ProbeFailed("busy"))
    assert rig.monitor.state is ComponentState.RUNNING
    rig.plug(2)  # later devices do not make it "starting" again
    assert rig.monitor.state is ComponentState.RUNNING


def test_running_at_once_without_devices_or_with_quick_probes(make):
    rig = make()
    rig.start()
    assert rig.monitor.state is ComponentState.RUNNING
    other = make()
    other.attach(0)
    other.start()
    assert other.monitor.state is ComponentState.RUNNING and other.ids() == ["camera0"]


def test_stop_while_starting_finishes_and_stays_stopped(make, reactor):
    rig = make()
    rig.prober.default = HANG
    rig.attach(0)
    rig.start()
    d = rig.stop()
    assert d.called and rig.monitor.state is ComponentState.STOPPED
    assert rig.prober.cancelled == ["/dev/video0"]
    assert not rig.monitor.active and reactor.getDelayedCalls() == []


def test_active_follows_the_udev_monitor(rig, reactor):
    assert rig.monitor.mode_in_use == "udev" and rig.monitor.active
    rig.netlink.current.error = OSError("netlink socket gone")
    rig.monitor.watcher.doRead()
    assert not rig.monitor.active  # reopening
    reactor.advance(1.0)
    assert rig.monitor.active
    rig.stop()
    assert not rig.monitor.active


# -- modes --------------------------------------------------------------------------

def test_after_the_udev_monitor_is_reopened_missed_devices_are_found(rig, reactor):
    rig.netlink.current.error = OSError("No buffer space available")
    rig.monitor.watcher.doRead()
    rig.attach(3)  # plugged while nobody listened
    reactor.advance(0.999)
    assert rig.ids() == []
    reactor.advance(0.002)
    assert rig.ids() == ["camera3"]


def test_udev_mode_needs_no_timer(rig, reactor):
    assert reactor.getDelayedCalls() == []


def test_poll_mode_scans_every_poll_interval(make, reactor):
    rig = make(mode="poll")
    rig.start()
    assert rig.monitor.mode_in_use == "poll" and rig.monitor.watcher is None and rig.monitor.active
    assert rig.netlink.attempts == 0
    rig.attach(0)
    reactor.advance(POLL - 0.001)
    assert rig.ids() == []
    reactor.advance(0.002)
    assert rig.ids() == ["camera0"]
    rig.detach(0)
    reactor.advance(POLL - 0.002)  # next scan at 2 * POLL
    assert rig.ids() == ["camera0"]
    reactor.advance(0.002)  # seen gone; removed after the debounce
    reactor.advance(DEBOUNCE - 0.001)
    assert rig.ids() == ["camera0"]
    reactor.advance(0.002)
    assert rig.ids() == []
    assert rig.prober.probes() == ["/dev/video0"]


@pytest.mark.parametrize("mode", ["udev", "hybrid"])
def test_udev_modes_without_a_udev_database_poll_instead(make, reactor, mode, logged):
    rig = make(mode=mode, has_udev=False)
    rig.start()
    assert rig.monitor.mode_in_use == "poll" and rig.netlink.attempts == 0
    rig.attach(0)
    reactor.advance(POLL)
    assert rig.ids() == ["camera0"]
    assert any("polling for cameras instead" in m for m in messages(logged, LogLevel.warn))


def test_a_udev_monitor_that_cannot_be_opened_means_polling(make, reactor, netlink):
    netlink.broken = True
    rig = make()
    rig.start()
    assert rig.monitor.mode_in_use == "poll" and rig.monitor.watcher is None and rig.monitor.active
    rig.attach(0)
    reactor.advance(POLL)
    assert rig.ids() == ["camera0"]


def test_hybrid_mode_has_a_slow_safety_scan(make, reactor):
    rig = make(mode="hybrid")
    rig.start()
    assert rig.monitor.mode_in_use == "hybrid"
    rig.plug(0)  # by udev, at once
    assert rig.ids() == ["camera0"]
    rig.attach(1)  # its event was lost
    reactor.advance(SAFETY_POLL - 0.001)
    assert rig.ids() == ["camera0"]
    reactor.advance(0.002)
    assert rig.ids() == ["camera0", "camera1"]
    assert rig.prober.probes() == ["/dev/video0", "/dev/video1"]


def test_disabled_mode_does_nothing(make, reactor):
    rig = make(mode="disabled")
    rig.attach(0)
    rig.start()
    assert rig.monitor.mode_in_use == "disabled" and rig.monitor.state is ComponentState.RUNNING
    assert not rig.monitor.active
    reactor.advance(SAFETY_POLL * 2)
    assert rig.ids() == [] and rig.prober.calls == [] and rig.contexts_made == 0 and rig.netlink.attempts == 0
    assert reactor.getDelayedCalls() == []


def test_stop_in_poll_mode_ends_the_scans(make, reactor):
    rig = make(mode="poll")
    rig.start()
    rig.stop()
    assert reactor.getDelayedCalls() == []
    rig.attach(0)
    reactor.advance(POLL * 3)
    assert rig.prober.calls == []


def test_node_of(rig, reactor):
    rig.plug(3)
    assert rig.monitor.node_of("camera3") == "/dev/video3"
    assert rig.monitor.node_of("camera4") is None
    assert rig.monitor.node_of("camera1000") is None  # a declared camera is no USB device
    assert rig.monitor.prober is rig.prober


# -- reload ------------------------------------------------------------------------------

class _NewConfig:
    """The two sections the monitor reads from a reloaded config."""

    def __init__(self, discovery_config, devices=(), max_cameras=16):
        self.discovery = discovery_config
        self.cameras = CamerasConfig(max_cameras, (), tuple(devices))


def test_a_reload_applies_new_device_settings_to_the_cameras_present(make):
    rig = make()
    rig.start()
    rig.plug(4, serial="SERIAL0")
    assert rig.camera("camera4").name == "HD Pro Webcam C920"
    settings = DeviceSettings(DeviceMatch(serial="SERIAL0"), name="Front door", resolution="1280x720", fps=15)
    rig.monitor.reconfigService(_NewConfig(discovery(), (settings,)))
    camera = rig.camera("camera4")
    assert (camera.name, camera.resolution, camera.fps) == ("Front door", "1280x720", 15)
    assert rig.prober.probes() == ["/dev/video4", "/dev/video4"]
    # and back (a rollback)
    rig.monitor.reconfigService(_NewConfig(discovery()))
    assert rig.camera("camera4").name == "HD Pro Webcam C920"


def test_a_reload_that_ignores_a_present_device_removes_its_camera(make):
    rig = make()
    rig.start()
    rig.plug(0, **IGNORED)
    assert rig.ids() == ["camera0"]
    rig.monitor.reconfigService(_NewConfig(discovery(ignore=(DeviceMatch(serial="SERIAL0"),))))
    assert rig.ids() == []


def test_a_reload_changes_the_poll_interval_at_once(make, reactor):
    rig = make(mode="poll")
    rig.start()
    rig.monitor.reconfigService(_NewConfig(discovery(mode="poll", poll_interval=0.5)))
    rig.attach(3)
    reactor.advance(0.5)
    assert rig.ids() == ["camera3"]


def test_a_reload_switches_udev_to_poll_and_keeps_the_camera_table(make, reactor):
    rig = make()
    rig.start()
    rig.plug(0)
    camera = rig.camera("camera0")
    watcher = rig.monitor.watcher
    rig.monitor.reconfigService(_NewConfig(discovery(mode="poll")))
    assert rig.monitor.mode_in_use == "poll" and rig.monitor.watcher is None
    assert not watcher.running
    assert rig.camera("camera0") is camera  # not removed and added again
    assert rig.topics() == [("camera.connected", "camera0")]
    assert rig.contexts_made == 1
    rig.attach(2)
    reactor.advance(POLL)
    assert rig.ids() == ["camera0", "camera2"]
    rig.detach(0)
    reactor.advance(POLL)
    reactor.advance(DEBOUNCE)
    assert rig.ids() == ["camera2"]


def test_a_reload_switches_poll_to_udev_and_back_as_a_rollback(make, reactor):
    rig = make(mode="poll")
    rig.start()
    rig.attach(1)
    reactor.advance(POLL)
    assert rig.ids() == ["camera1"]
    rig.monitor.reconfigService(_NewConfig(discovery(mode="udev")))
    assert rig.monitor.mode_in_use == "udev" and rig.monitor.watcher.running
    assert rig.monitor._loop is None
    rig.plug(3)  # an event, read by the new watcher
    assert rig.ids() == ["camera1", "camera3"]
    rig.attach(5)
    reactor.advance(POLL * 3)
    assert "camera5" not in rig.ids()  # no scan loop in udev mode
    rig.monitor.reconfigService(_NewConfig(discovery(mode="poll")))
    assert rig.monitor.mode_in_use == "poll" and rig.monitor.watcher is None
    assert rig.ids() == ["camera1", "camera3", "camera5"]  # the rescan at the switch
    assert [t for t, _ in rig.topics()].count("camera.disconnected") == 0


def test_a_reload_to_hybrid_runs_both_and_disabled_forgets_what_discovery_found(make, reactor):
    rig = make()
    rig.start()
    rig.plug(0)
    rig.monitor.reconfigService(_NewConfig(discovery(mode="hybrid")))
    assert rig.monitor.mode_in_use == "hybrid"
    assert rig.monitor.watcher.running and rig.monitor._loop.interval == SAFETY_POLL
    rig.monitor.reconfigService(_NewConfig(discovery(mode="disabled")))
    assert rig.monitor.mode_in_use == "disabled" and not rig.monitor.active
    assert rig.ids() == []
    assert reactor.getDelayedCalls() == []
    rig.attach(4)
    reactor.advance(SAFETY_POLL * 2)
    assert rig.ids() == []
    # and on again: the devices present are found at once
    rig.monitor.reconfigService(_NewConfig(discovery(mode="udev")))
    assert rig.ids() == ["camera0", "camera4"]


def test_a_reload_without_a_udev_daemon_falls_back_to_polling(make, reactor):
    rig = make(mode="poll", has_udev=False)
    rig.start()
    rig.monitor.reconfigService(_NewConfig(discovery(mode="udev")))
    assert rig.monitor.mode_in_use == "poll" and rig.monitor._loop.running


def test_a_reload_hands_the_probe_settings_on(make):
    rig = make()
    seen = []
    rig.prober.configure = lambda exe, timeout: seen.append((exe, timeout))
    rig.start()
    rig.plug(0)
    rig.monitor.reconfigService(_NewConfig(discovery(probe_timeout=9.0, reopen_max_delay=4.0)))
    assert seen == [("v4l2-ctl", 9.0)]
    assert rig.monitor.watcher.max_delay == 4.0
    assert rig.prober.probes() == ["/dev/video0"]  # a timeout alone probes nothing again
    rig.monitor.reconfigService(_NewConfig(discovery(probe_timeout=9.0, v4l2_ctl="/opt/v4l2-ctl")))
    assert seen[-1] == ("/opt/v4l2-ctl", 9.0)
    assert rig.prober.probes() == ["/dev/video0", "/dev/video0"]  # another program: probed again


def test_a_reload_while_stopped_only_records_the_settings(make):
    rig = make()
    rig.monitor.reconfigService(_NewConfig(discovery(mode="poll")))
    assert rig.monitor.watcher is None and rig.monitor._loop is None
    rig.start()
    assert rig.monitor.mode_in_use == "poll"
