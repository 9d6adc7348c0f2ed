"""Camera controls (API extension 1.1): ``check_value`` on the C920's
recorded controls, and ``get_camera_controls``/``set_camera_control``
through the dispatcher, with a USB camera discovered by the harness's own
monitor (a fake udev context) and probed by ``fakes.prober.FakeProber``."""
from __future__ import annotations

from dataclasses import replace

import pytest

from camservice.cameras.prober import ProbeFailed
from camservice.cameras.v4l2 import Control
from camservice.rpc.control_methods import check_value
from camservice.rpc.errors import InvalidParams, InvalidState

from fakes.prober import FakeProber, controls_of

C920 = {c.name: c for c in controls_of("uvc_c920")}


# -- check_value ----------------------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("brightness", 0), ("brightness", 255), ("brightness", 128),
    ("pan_absolute", -36000), ("pan_absolute", 3600), ("pan_absolute", 36000),
    ("zoom_absolute", 100), ("zoom_absolute", 500),
    ("white_balance_automatic", 0), ("white_balance_automatic", 1),
    ("power_line_frequency", 0), ("power_line_frequency", 1),
    ("auto_exposure", 1), ("auto_exposure", 3),
])
def test_values_the_control_takes_are_accepted(name, value):
    check_value(C920[name], value)


@pytest.mark.parametrize("name, value, reason", [
    ("brightness", -1, "value out of range"),
    ("brightness", 256, "value out of range"),
    ("zoom_absolute", 99, "value out of range"),
    ("zoom_absolute", 501, "value out of range"),
    ("pan_absolute", -39600, "value out of range"),
    ("pan_absolute", 100, "value off the control's step"),
    ("pan_absolute", 3599, "value off the control's step"),
    ("white_balance_automatic", 2, "value out of range"),
    ("white_balance_automatic", -1, "value out of range"),
    ("power_line_frequency", 3, "value out of range"),
    ("auto_exposure", 0, "not a menu entry"),   # inside min..max, but the driver lists only 1 and 3
    ("auto_exposure", 2, "not a menu entry"),
])
def test_values_the_control_cannot_take_are_invalid_params(name, value, reason):
    with pytest.raises(InvalidParams) as caught:
        check_value(C920[name], value)
    assert caught.value.data["param"] == "value" and caught.value.data["reason"] == reason
    assert name in caught.value.data["hint"]


def test_a_menu_error_lists_the_entries():
    with pytest.raises(InvalidParams) as caught:
        check_value(C920["auto_exposure"], 2)
    assert caught.value.data["rule"] == "must be one of: 1 (Manual Mode), 3 (Aperture Priority Mode)"


def test_a_step_counts_from_the_minimum():
    control = Control("odd", "int", minimum=1, maximum=21, step=5, default=1, value=1)
    check_value(control, 6)
    check_value(control, 21)
    with pytest.raises(InvalidParams):
        check_value(control, 5)


@pytest.mark.parametrize("name", ["focus_absolute", "exposure_time_absolute", "white_balance_temperature"])
def test_an_inactive_control_is_refused_as_a_state(name):
    with pytest.raises(InvalidState) as caught:
        check_value(C920[name], C920[name].default)  # even a valid value
    assert caught.value.data["state"] == "control_inactive"
    assert "automatic mode" in caught.value.data["reason"]


def test_a_read_only_control_is_refused_as_a_state():
    control = replace(C920["gain"], flags=("read-only",))
    with pytest.raises(InvalidState) as caught:
        check_value(control, 10)
    assert caught.value.data["state"] == "control_read_only"


@pytest.mark.parametrize("ctype", ["string", "str", "u8", "area", "ctrl_class"])
def test_unsupported_control_types_are_refused(ctype):
    with pytest.raises(InvalidParams) as caught:
        check_value(Control("label", ctype, value=0), 0)
    assert caught.value.data["param"] == "name" and caught.value.data["reason"] == "unsupported control type"


def test_int64_and_intmenu_are_checked_like_int_and_menu():
    check_value(Control("big", "int64", minimum=0, maximum=2**40, step=1), 2**40)
    with pytest.raises(InvalidParams):
        check_value(Control("big", "int64", minimum=0, maximum=2**40, step=1), 2**40 + 1)
    intmenu = Control("link_freq", "intmenu", minimum=0, maximum=2, menu=((0, "100000000"), (2, "400000000")))
    check_value(intmenu, 2)
    with pytest.raises(InvalidParams):
        check_value(intmenu, 1)


# -- through the dispatcher --------------------------------------------------------

@pytest.fixture
def prober(harness, monkeypatch):
    """The harness's camera monitor probes with a FakeProber."""
    fake = FakeProber()
    monkeypatch.setattr(harness.tree.getServiceNamed("camera-monitor"), "_prober", fake)
    return fake


@pytest.fixture
def usb(harness, prober):
    """camera0: a C920 the monitor found at /dev/video0."""
    monitor = harness.tree.getServiceNamed("camera-monitor")
    monitor._context.plug(0, serial="046d_HD_Pro_Webcam_C920_7B2F3C9F")
    monitor.rescan()
    assert harness.registry.get("camera0").status.value == "CONNECTED"
    return "camera0"


def error_of(reply: dict) -> dict:
    assert "error" in reply, reply
    return reply["error"]


@pytest.mark.parametrize("camera", ["camera1000", "camera1001"])
def test_cameras_that_are_not_usb_have_no_controls(harness, camera):
    viewer = harness.session("viewer")
    error = error_of(harness.call(viewer, "get_camera_controls", {"device": camera}))
    assert error["code"] == -32030
    error = error_of(harness.call(harness.session("operator"), "set_camera_control",
                                  {"device": camera, "name": "brightness", "value": 1}))
    assert error["code"] == -32030


def test_an_unknown_camera_is_not_found(harness):
    error = error_of(harness.call(harness.session("viewer"), "get_camera_controls", {"device": "camera5"}))
    assert error["code"] == -32010


def test_get_camera_controls_lists_the_probed_controls(harness, usb, prober):
    reply = harness.call(harness.session("viewer"), "get_camera_controls", {"device": usb})
    result = reply["result"]
    assert result["device"] == "camera0"
    controls = {c["name"]: c for c in result["controls"]}
    assert len(controls) == 17
    assert controls["brightness"] == {"name": "brightness", "type": "int", "min": 0, "max": 255, "step": 1,
                                      "default": 128, "value": 128, "flags": [], "category": "User Controls"}
    assert controls["focus_absolute"]["flags"] == ["inactive"]
    assert controls["auto_exposure"]["menu"] == {"1": "Manual Mode", "3": "Aperture Priority Mode"}
    assert ("controls", "/dev/video0") in prober.calls  # asked the device now, not a cached probe


def test_set_camera_control_sets_and_reads_the_value_back(harness, usb, prober):
    operator = harness.session("operator")
    reply = harness.call(operator, "set_camera_control", {"device": usb, "name": "brightness", "value": 140})
    assert reply["result"] == {"device": "camera0", "name": "brightness", "value": 140, "previous": 128}
    assert prober.sets() == [("/dev/video0", "brightness", 140)]
    again = harness.call(operator, "set_camera_control", {"device": usb, "name": "brightness", "value": 90})
    assert again["result"]["previous"] == 140 and again["result"]["value"] == 90
    listed = harness.call(operator, "get_camera_controls", {"device": usb})["result"]["controls"]
    assert next(c for c in listed if c["name"] == "brightness")["value"] == 90


def test_set_camera_control_reports_what_the_driver_kept(harness, usb, prober):
    prober.clamp = lambda name, value: value - value % 10  # a driver that rounds
    reply = harness.call(harness.session("operator"), "set_camera_control",
                         {"device": usb, "name": "gain", "value": 57})
    assert reply["result"]["value"] == 50 and reply["result"]["previous"] == 0


def test_a_boolean_value_is_set_as_0_or_1(harness, usb, prober):
    reply = harness.call(harness.session("operator"), "set_camera_control",
                         {"device": usb, "name": "focus_automatic_continuous", "value": False})
    assert reply["result"]["value"] == 0 and reply["result"]["previous"] == 1
    assert prober.sets() == [("/dev/video0", "focus_automatic_continuous", 0)]


@pytest.mark.parametrize("name, value, code", [
    ("no_such_control", 1, -32602),
    ("brightness", 256, -32602),
    ("pan_absolute", 100, -32602),
    ("auto_exposure", 2, -32602),
    ("focus_absolute", 50, -32020),
])
def test_refused_values_never_reach_the_camera(harness, usb, prober, name, value, code):
    error = error_of(harness.call(harness.session("operator"), "set_camera_control",
                                  {"device": usb, "name": name, "value": value}))
    assert error["code"] == code
    assert prober.sets() == []


def test_an_unknown_control_name_lists_the_known_ones(harness, usb):
    error = error_of(harness.call(harness.session("operator"), "set_camera_control",
                                  {"device": usb, "name": "no_such_control", "value": 1}))
    assert "brightness" in error["data"]["rule"] and "zoom_absolute" in error["data"]["rule"]


def test_a_value_the_camera_refuses_is_a_dependency_failure(harness, usb, prober):
    prober.refuse["brightness"] = "VIDIOC_S_EXT_CTRLS: failed: Input/output error"
    error = error_of(harness.call(harness.session("operator"), "set_camera_control",
                                  {"device": usb, "name": "brightness", "value": 10}))
    assert error["code"] == -32050
    assert error["data"]["detail"] == "VIDIOC_S_EXT_CTRLS: failed: Input/output error"


def test_a_camera_that_does_not_answer_is_a_dependency_failure(harness, usb, prober):
    prober.controls_error = ProbeFailed("v4l2-ctl did not answer within 5.0 s")
    error = error_of(harness.call(harness.session("viewer"), "get_camera_controls", {"device": usb}))
    assert error["code"] == -32050 and "did not answer" in error["data"]["detail"]


def test_a_camera_in_error_has_no_controls_to_offer(harness, prober):
    prober.answers["/dev/video0"] = ProbeFailed("Cannot open device /dev/video0, exiting.")
    monitor = harness.tree.getServiceNamed("camera-monitor")
    monitor._context.plug(0)
    monitor.rescan()
    error = error_of(harness.call(harness.session("viewer"), "get_camera_controls", {"device": "camera0"}))
    assert error["code"] == -32020 and error["data"]["state"] == "camera_error"
    assert ("controls", "/dev/video0") not in prober.calls


def test_an_unplugged_camera_is_gone(harness, usb, prober):
    monitor = harness.tree.getServiceNamed("camera-monitor")
    monitor._context.unplug(0)
    monitor.rescan()
    harness.clock.advance(harness.config.discovery.debounce + 0.001)
    error = error_of(harness.call(harness.session("viewer"), "get_camera_controls", {"device": usb}))
    assert error["code"] == -32010


def test_a_viewer_may_read_but_not_set_controls(harness, usb, prober):
    viewer = harness.session("viewer")
    assert "result" in harness.call(viewer, "get_camera_controls", {"device": usb})
    error = error_of(harness.call(viewer, "set_camera_control", {"device": usb, "name": "brightness", "value": 1}))
    assert error["code"] == -32002
    assert prober.sets() == []
