"""What a device can do, read from recorded ``v4l2-ctl`` output
(``tests/data/v4l2``): the parsers and the choice of the mode to stream."""
from __future__ import annotations

import pytest

from camservice.cameras.v4l2 import (
    STANDARD_FPS,
    Probe,
    V4L2ParseError,
    best_mode,
    parse_all,
    parse_formats,
    parse_probe,
)

from fakes.prober import DATA, probe_of, recording

RECORDINGS = sorted(p.name for p in DATA.iterdir())
ALL_RECORDINGS = [name for name in RECORDINGS if name.endswith("_all.txt")]
FORMATS_RECORDINGS = [name for name in RECORDINGS if name.endswith("_formats.txt")]

C920_CONTROLS = {
    # name: (type, min, max, step, default, value, flags, category)
    "brightness": ("int", 0, 255, 1, 128, 128, (), "User Controls"),
    "contrast": ("int", 0, 255, 1, 128, 128, (), "User Controls"),
    "saturation": ("int", 0, 255, 1, 128, 128, (), "User Controls"),
    "white_balance_automatic": ("bool", None, None, None, 1, 1, (), "User Controls"),
    "gain": ("int", 0, 255, 1, 0, 0, (), "User Controls"),
    "power_line_frequency": ("menu", 0, 2, None, 2, 2, (), "User Controls"),
    "white_balance_temperature": ("int", 2000, 6500, 1, 4000, 4000, ("inactive",), "User Controls"),
    "sharpness": ("int", 0, 255, 1, 128, 128, (), "User Controls"),
    "backlight_compensation": ("int", 0, 1, 1, 0, 0, (), "User Controls"),
    "auto_exposure": ("menu", 0, 3, None, 3, 3, (), "Camera Controls"),
    "exposure_time_absolute": ("int", 3, 2047, 1, 250, 250, ("inactive",), "Camera Controls"),
    "exposure_dynamic_framerate": ("bool", None, None, None, 0, 1, (), "Camera Controls"),
    "pan_absolute": ("int", -36000, 36000, 3600, 0, 0, (), "Camera Controls"),
    "tilt_absolute": ("int", -36000, 36000, 3600, 0, 0, (), "Camera Controls"),
    "focus_absolute": ("int", 0, 250, 5, 0, 0, ("inactive",), "Camera Controls"),
    "focus_automatic_continuous": ("bool", None, None, None, 1, 1, (), "Camera Controls"),
    "zoom_absolute": ("int", 100, 500, 1, 100, 100, (), "Camera Controls"),
}


def modes(**per_format) -> Probe:
    """A probe offering just ``per_format`` (fourcc -> {"WxH": fps})."""
    return Probe("uvcvideo", "Test", "usb-1", True, modes=per_format)


# -- the UVC webcam (C920): YUYV and MJPEG, 17 controls -------------------

def test_webcam_identity_and_current_mode():
    info = parse_all(recording("uvc_c920", "all"))
    assert (info["driver"], info["card"], info["bus_info"]) == ("uvcvideo", "HD Pro Webcam C920", "usb-0000:00:14.0-1")
    # the device's own caps, not the whole device's (which would include Metadata Capture)
    assert info["device_caps"] == ["Video Capture", "Streaming", "Extended Pix Format"]
    assert (info["current_format"], info["current_resolution"], info["current_fps"]) == ("YUYV", "640x480", 30)


def test_webcam_formats_resolutions_and_rates_per_resolution():
    probe = probe_of("uvc_c920")
    assert probe.capture is True
    assert probe.formats == ["MJPG", "YUYV"]  # MJPEG is preferred over raw
    assert probe.resolutions == ["1920x1080", "1280x720", "640x480"]
    assert probe.modes["MJPG"] == {"640x480": (30, 24, 15), "1280x720": (30, 15), "1920x1080": (30, 15)}
    # raw YUYV over USB 2 is slow at large sizes; 7.5 fps becomes the integer 8
    assert probe.modes["YUYV"] == {
        "640x480": (30, 24, 20, 15, 10, 8, 5),
        "1280x720": (10, 8, 5),
        "1920x1080": (5,),
    }
    assert probe.fps_options == [30, 24, 20, 15, 10, 8, 5]


def test_webcam_has_all_seventeen_controls_with_ranges_flags_and_categories():
    controls = {c.name: c for c in probe_of("uvc_c920").controls}
    assert list(controls) == list(C920_CONTROLS)  # in the device's order
    for name, (ctype, lo, hi, step, default, value, flags, category) in C920_CONTROLS.items():
        c = controls[name]
        assert (c.type, c.minimum, c.maximum, c.step, c.default, c.value, c.flags, c.category) == (
            ctype, lo, hi, step, default, value, flags, category), name


def test_webcam_menus_list_only_the_entries_the_device_has():
    controls = {c.name: c for c in probe_of("uvc_c920").controls}
    assert controls["power_line_frequency"].menu == ((0, "Disabled"), (1, "50 Hz"), (2, "60 Hz"))
    # 0 and 2 are inside min..max but the driver does not offer them
    assert controls["auto_exposure"].menu == ((1, "Manual Mode"), (3, "Aperture Priority Mode"))
    assert controls["brightness"].menu == ()


def test_control_as_the_api_shows_it():
    controls = {c.name: c for c in probe_of("uvc_c920").controls}
    assert controls["power_line_frequency"].as_dict() == {
        "name": "power_line_frequency", "type": "menu", "min": 0, "max": 2, "step": None, "default": 2,
        "value": 2, "flags": [], "category": "User Controls", "menu": {"0": "Disabled", "1": "50 Hz", "2": "60 Hz"},
    }
    focus = controls["focus_absolute"].as_dict()
    assert focus["flags"] == ["inactive"] and "menu" not in focus


def test_webcam_best_mode_is_mjpeg_full_hd_at_30():
    assert best_mode(probe_of("uvc_c920")) == ("MJPG", "1920x1080", 30)


# -- its metadata node ------------------------------------------------------

def test_metadata_node_cannot_capture_and_offers_no_mode():
    probe = probe_of("uvc_metadata")
    assert probe.capture is False
    assert probe.modes == {} and probe.formats == [] and probe.resolutions == [] and probe.fps_options == []
    assert probe.card == "HD Pro Webcam C920"  # same card as the capture node
    assert best_mode(probe) is None


def test_metadata_node_formats_are_not_even_read():
    # whatever the second run printed, a node that cannot capture has no modes
    probe = parse_probe(recording("uvc_metadata", "all"), "not v4l2-ctl output at all")
    assert probe.capture is False and probe.modes == {}


# -- a camera that encodes H264 itself --------------------------------------

def test_h264_camera_is_passed_through():
    probe = probe_of("h264_cam")
    assert probe.formats == ["H264", "MJPG", "YUYV"]
    assert probe.modes["H264"] == {"1920x1080": (30, 25), "1280x720": (30,)}
    assert (probe.current_format, probe.current_resolution, probe.current_fps) == ("H264", "1920x1080", 30)
    assert [(c.name, c.minimum, c.maximum) for c in probe.controls] == [("brightness", -64, 64), ("contrast", 0, 64)]
    assert best_mode(probe) == ("H264", "1920x1080", 30)


def test_h264_camera_under_a_smaller_limit_still_uses_h264():
    assert best_mode(probe_of("h264_cam"), max_size=(1280, 720)) == ("H264", "1280x720", 30)


def test_h264_too_large_falls_to_the_next_format_that_fits():
    probe = probe_of("h264_cam")
    # H264 and MJPG start at 1280x720; only YUYV has 640x480
    assert best_mode(probe, max_size=(640, 480)) == ("YUYV", "640x480", 30)


# -- a capture card: stepwise and continuous sizes and intervals ----------

CARD_SIZES = ["1920x1080", "1280x1024", "1280x720", "1024x768", "800x600", "640x480", "352x288", "320x240"]


def test_capture_card_ranges_become_the_standard_sizes_and_rates_inside_them():
    probe = probe_of("capture_card")
    assert probe.formats == ["NV12", "YU12"]
    for fourcc in ("NV12", "YU12"):  # stepwise with step 2/2, continuous
        per_size = probe.modes[fourcc]
        # 3840x2160, 2560x1440 (too wide) and 1600x1200 (too tall for 1080) are outside the range
        assert set(per_size) == set(CARD_SIZES)
        for size in CARD_SIZES:
            assert per_size[size] == (60, 50, 30, 25, 24, 20, 15, 10, 5, 1), (fourcc, size)
    assert probe.resolutions == CARD_SIZES
    assert (probe.current_format, probe.current_resolution, probe.current_fps) == ("NV12", "1920x1080", 60)
    assert probe.controls == ()


def test_capture_card_best_mode_keeps_to_max_fps():
    assert best_mode(probe_of("capture_card")) == ("NV12", "1920x1080", 30)
    assert best_mode(probe_of("capture_card"), max_fps=60) == ("NV12", "1920x1080", 60)


FORMATS_HEAD = "ioctl: VIDIOC_ENUM_FMT\n\tType: Video Capture\n\n\t[0]: 'YUYV' (YUYV 4:2:2)\n"


@pytest.mark.parametrize("size_range, expected", [
    # from 16x16 in steps of 16: 1080 - 16 and 600 - 16 are not multiples of 16
    ("16x16 - 1920x1088 with step 16/16", {"1280x1024", "1280x720", "1024x768", "640x480", "352x288", "320x240"}),
    # widths in steps of 64 from 64: 352 and 800 are off the step though their heights are on theirs
    ("64x16 - 1920x1088 with step 64/16", {"1280x1024", "1280x720", "1024x768", "640x480", "320x240"}),
])
def test_stepwise_sizes_must_lie_on_the_step(size_range, expected):
    text = FORMATS_HEAD + f"\t\tSize: Stepwise {size_range}\n\t\t\tInterval: Discrete 0.033s (30.000 fps)\n"
    assert set(parse_formats(text)["YUYV"]) == expected


def test_stepwise_sizes_stay_inside_the_range():
    text = FORMATS_HEAD + (
        "\t\tSize: Stepwise 640x480 - 1280x720 with step 1/1\n"
        "\t\t\tInterval: Discrete 0.033s (30.000 fps)\n"
    )
    # both ends count; 1024x768 is too tall, 352x288 too small
    assert set(parse_formats(text)["YUYV"]) == {"1280x720", "800x600", "640x480"}


@pytest.mark.parametrize("interval, expected", [
    # both ends of the interval range count
    ("Interval: Continuous 0.033s - 0.133s (7.500-30.000 fps)", (30, 25, 24, 20, 15, 10)),
    ("Interval: Stepwise 0.040s - 0.200s with step 0.001s (5.000-25.000 fps)", (25, 24, 20, 15, 10, 5)),
    # a range between two standard rates offers none of them
    ("Interval: Continuous 0.034s - 0.039s (25.600-29.400 fps)", ()),
])
def test_interval_ranges_become_the_standard_rates_inside_them(interval, expected):
    text = FORMATS_HEAD + "\t\tSize: Discrete 640x480\n\t\t\t" + interval + "\n"
    assert parse_formats(text)["YUYV"]["640x480"] == expected
    assert set(expected) <= set(STANDARD_FPS)


# -- best_mode limits ---------------------------------------------------------

@pytest.mark.parametrize("max_size, expected", [
    ((1920, 1080), ("MJPG", "1920x1080", 30)),
    ((1920, 1079), ("MJPG", "1280x720", 30)),  # one line short of full HD
    ((1279, 2000), ("MJPG", "640x480", 30)),   # one column short of 720p
    ((1280, 720), ("MJPG", "1280x720", 30)),
])
def test_best_mode_keeps_within_max_size(max_size, expected):
    assert best_mode(probe_of("uvc_c920"), max_size=max_size) == expected


@pytest.mark.parametrize("max_fps, expected_fps", [(30, 30), (29, 15), (15, 15)])
def test_best_mode_keeps_within_max_fps(max_fps, expected_fps):
    assert best_mode(probe_of("uvc_c920"), max_fps=max_fps) == ("MJPG", "1920x1080", expected_fps)


def test_best_mode_prefers_a_size_that_reaches_min_fps():
    probe = modes(YUYV={"1920x1080": (5,), "1280x720": (10,), "640x480": (30,)})
    assert best_mode(probe) == ("YUYV", "640x480", 30)
    # nothing reaches it: the largest size at its best rate
    assert best_mode(modes(YUYV={"1920x1080": (5,), "1280x720": (10,)})) == ("YUYV", "1920x1080", 5)


def test_best_mode_with_nothing_under_max_size_in_one_format_tries_the_next():
    probe = modes(H264={"3840x2160": (30,)}, MJPG={"1920x1080": (30,)})
    assert best_mode(probe) == ("MJPG", "1920x1080", 30)


def test_best_mode_with_nothing_under_max_size_at_all_takes_the_smallest_offered():
    probe = modes(MJPG={"3840x2160": (30,), "2592x1944": (15,)})
    assert best_mode(probe) == ("MJPG", "2592x1944", 15)


def test_best_mode_with_no_rate_under_max_fps_takes_the_closest():
    assert best_mode(probe_of("uvc_c920"), max_fps=10) == ("MJPG", "1920x1080", 15)


def test_best_mode_of_a_device_without_modes_is_none():
    assert best_mode(modes()) is None
    assert best_mode(modes(MJPG={})) is None


def test_unknown_formats_come_after_the_known_ones():
    probe = modes(Y16={"640x480": (30,)}, GREY={"640x480": (30,)})
    assert probe.formats == ["GREY", "Y16"]
    assert best_mode(probe)[0] == "GREY"


# -- garbage and truncated output -----------------------------------------

@pytest.mark.parametrize("text", ["", "garbage\n", "\x00\xff\xfe", "Cannot open device /dev/video0, exiting.\n"])
def test_output_that_is_not_v4l2_ctl_is_a_parse_error(text):
    with pytest.raises(V4L2ParseError):
        parse_all(text)
    with pytest.raises(V4L2ParseError):
        parse_formats(text)


def test_the_outputs_of_the_two_runs_are_not_interchangeable():
    with pytest.raises(V4L2ParseError):
        parse_all(recording("uvc_c920", "formats"))
    with pytest.raises(V4L2ParseError):
        parse_formats(recording("uvc_c920", "all"))


def test_a_header_alone_gives_empty_results():
    info = parse_all("Driver Info:\n")
    assert info["device_caps"] == [] and info["controls"] == [] and info["current_format"] is None
    assert parse_formats("ioctl: VIDIOC_ENUM_FMT\n") == {}


def test_lines_before_any_format_and_unknown_lines_are_ignored():
    text = ("ioctl: VIDIOC_ENUM_FMT\n\t\tSize: Discrete 640x480\n\t\t\tInterval: Discrete 0.033s (30.000 fps)\n"
            "\tsomething new in a later v4l2-ctl\n") + FORMATS_HEAD + "\t\tSize: Discrete 320x240\n\t\tbogus\n"
    assert parse_formats(text) == {"YUYV": {"320x240": ()}}


def _cut_everywhere(name):
    text = (DATA / name).read_text()
    parse = parse_all if name.endswith("_all.txt") else parse_formats
    for end in range(len(text) + 1):
        try:
            parse(text[:end])
        except V4L2ParseError:
            pass
        except Exception as e:  # noqa: BLE001 -- the point of the test
            pytest.fail(f"{name} cut after {end} characters ({text[max(0, end - 30):end]!r}): {e!r}")


@pytest.mark.parametrize("name", FORMATS_RECORDINGS)
def test_formats_output_cut_anywhere_is_empty_or_a_parse_error(name):
    _cut_everywhere(name)


@pytest.mark.parametrize("name", ALL_RECORDINGS)
def test_all_output_cut_anywhere_is_empty_or_a_parse_error(name):
    _cut_everywhere(name)


@pytest.mark.parametrize("line", [
    "Format Video Capture:\n\tWidth/Height      : 640/\n",
    "Format Video Capture:\n\tWidth/Height      : 640x480\n",
    "Streaming Parameters Video Capture:\n\tFrames per second: 30..000 (30/1)\n",
])
def test_a_malformed_number_in_all_output_is_a_parse_error_or_ignored(line):
    try:
        info = parse_all("Driver Info:\n\tDriver name      : uvcvideo\n" + line)
    except V4L2ParseError:
        return
    assert info["driver"] == "uvcvideo"


def test_a_malformed_control_value_is_left_unknown():
    text = ("Driver Info:\n\tDriver name      : uvcvideo\n\nUser Controls\n\n"
            "                     brightness 0x00980900 (int)    : min=0 max=2x5 step=1 default=128 value=abc\n")
    (control,) = parse_all(text)["controls"]
    assert (control.name, control.minimum, control.maximum, control.value) == ("brightness", 0, None, None)


def test_several_flags_are_all_kept():
    text = ("Driver Info:\n\tDriver name      : uvcvideo\n\nUser Controls\n\n"
            "                           gain 0x00980913 (int)    : min=0 max=1023 step=1 default=0 value=19 "
            "flags=inactive, volatile\n")
    (control,) = parse_all(text)["controls"]
    assert control.flags == ("inactive", "volatile")
