"""The pure parts of the MediaMTX layer: the reconciliation plan, the path
configuration of each kind of camera, the stream URLs clients get, the
figures read from live paths, and the generated ``mediamtx.yml``."""
from __future__ import annotations

import shlex
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from camservice.config import ConfigError
import yaml

from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.children import dies_with_parent
from camservice.config import load_config
from camservice.mediamtx.config_file import MediaAccess, console_origin, media_origins, mediamtx_settings, write_mediamtx_config
from camservice.mediamtx.paths import is_ready, online_since, path_figures
from camservice.mediamtx.reconcile import PathChange, plan_changes, same_conf
from camservice.mediamtx.sources import OWNED_PATH, path_conf, publish_url, rtsp_host
from camservice.mediamtx.urls import StreamLocator


@pytest.fixture
def make_config(write_config):
    """``make_config(mediamtx={...}, streams={...}) -> Config``."""

    def make(mediamtx=None, streams=None):
        document = {}
        if mediamtx:
            document["mediamtx"] = mediamtx
        if streams:
            document["streams"] = streams
        return load_config(write_config(document))

    return make


def virtual(camera_id="camera1000", resolution="320x240", fps=10):
    return Camera(camera_id, CameraKind.VIRTUAL, "Pattern", CameraStatus.CONNECTED, resolution, fps)


def network(camera_id="camera1001", url="rtsp://192.0.2.7:554/stream1"):
    return Camera(camera_id, CameraKind.NETWORK, "Gate", CameraStatus.CONNECTED, "1920x1080", 25, source=url)


# -- plan_changes -----------------------------------------------------------

def full_conf(name, desired):
    """What MediaMTX lists for a path camservice configured: every PathConf
    field, ours among MediaMTX's defaults."""
    conf = {
        "name": name, "source": "publisher", "sourceFingerprint": "", "sourceOnDemand": False,
        "sourceOnDemandStartTimeout": "10s", "sourceOnDemandCloseAfter": "10s", "maxReaders": 0,
        "record": False, "recordPath": "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f", "recordDeleteAfter": "0s",
        "rtspTransport": "automatic", "runOnInit": "", "runOnInitRestart": False, "runOnDemand": "",
        "runOnDemandRestart": False, "runOnDemandStartTimeout": "10s", "runOnDemandCloseAfter": "10s",
        "runOnReady": "", "runOnRead": "",
    }
    conf.update(desired)
    return conf


DESIRED_A = {"source": "publisher", "runOnDemand": "ffmpeg -i a", "runOnDemandRestart": True}
DESIRED_B = {"source": "rtsp://192.0.2.7/b", "sourceOnDemand": True, "rtspTransport": "tcp"}


def test_missing_paths_are_added():
    changes = plan_changes({"camera1": DESIRED_A, "camera2": DESIRED_B}, {"camera1": full_conf("camera1", DESIRED_A)})
    assert changes == [PathChange("add", "camera2", DESIRED_B)]


def test_equal_paths_need_no_change():
    desired = {"camera1": DESIRED_A, "camera2": DESIRED_B}
    actual = {name: full_conf(name, conf) for name, conf in desired.items()}
    assert plan_changes(desired, actual) == []


def test_only_the_keys_camservice_sets_are_compared():
    actual = full_conf("camera1", DESIRED_A)
    actual.update(maxReaders=5, runOnReady="notify.sh", record=True)  # MediaMTX-side settings
    assert same_conf(DESIRED_A, actual)
    assert plan_changes({"camera1": DESIRED_A}, {"camera1": actual}) == []


def test_a_missing_empty_command_equals_an_empty_one():
    desired = {"runOnInit": "", "runOnDemand": "ffmpeg -i a"}
    assert same_conf(desired, {"runOnDemand": "ffmpeg -i a"})
    assert same_conf(desired, {"runOnInit": None, "runOnDemand": "ffmpeg -i a"})
    assert not same_conf(desired, {"runOnInit": "other", "runOnDemand": "ffmpeg -i a"})


@pytest.mark.parametrize(
    "drift",
    [{"runOnDemand": "ffmpeg -i changed"}, {"runOnDemandRestart": False}, {"source": "rtsp://elsewhere/x"}],
)
def test_differing_paths_are_replaced(drift):
    actual = full_conf("camera1", DESIRED_A)
    actual.update(drift)
    assert plan_changes({"camera1": DESIRED_A}, {"camera1": actual}) == [PathChange("replace", "camera1", DESIRED_A)]


def test_owned_paths_not_desired_are_deleted():
    actual = {"camera1": full_conf("camera1", DESIRED_A), "camera7": full_conf("camera7", DESIRED_B)}
    assert plan_changes({"camera1": DESIRED_A}, actual) == [PathChange("delete", "camera7")]


@pytest.mark.parametrize("name", ["lobby", "camera_x", "mycamera1", "camera1/sub", "Camera1", "camera", "camera1x", "all_others"])
def test_foreign_paths_are_never_touched(name):
    actual = {name: full_conf(name, {"source": "publisher", "runOnDemand": "someone else's"})}
    assert not OWNED_PATH.match(name)
    assert plan_changes({}, actual) == []
    assert plan_changes({"camera1": DESIRED_A}, actual) == [PathChange("add", "camera1", DESIRED_A)]


def test_a_mixed_plan_adds_and_replaces_in_name_order_then_deletes():
    desired = {"camera3": DESIRED_A, "camera1": DESIRED_B, "camera2": DESIRED_A}
    stale = dict(DESIRED_A, runOnDemand="old")
    actual = {
        "camera2": full_conf("camera2", stale),
        "camera9": full_conf("camera9", DESIRED_A),
        "lobby": full_conf("lobby", DESIRED_A),
    }
    assert plan_changes(desired, actual) == [
        PathChange("add", "camera1", DESIRED_B),
        PathChange("replace", "camera2", DESIRED_A),
        PathChange("add", "camera3", DESIRED_A),
        PathChange("delete", "camera9"),
    ]


# -- path_conf ----------------------------------------------------------------

def command_of(conf: dict, key: str) -> list[str]:
    """The command MediaMTX runs, without the wrapper that makes it die
    with MediaMTX (which every command must have)."""
    argv = shlex.split(conf[key])
    wrapper = dies_with_parent([])
    assert argv[: len(wrapper)] == wrapper
    return argv[len(wrapper):]


def test_virtual_camera_runs_a_test_pattern_on_demand(make_config):
    config = make_config().mediamtx
    conf = path_conf(virtual(resolution="320x240", fps=10), config)
    assert conf["source"] == "publisher"
    assert conf["runOnInit"] == ""
    assert conf["runOnDemandRestart"] is True
    assert conf["runOnDemandStartTimeout"] == f"{config.source_start_timeout}s"
    assert conf["runOnDemandCloseAfter"] == f"{config.on_demand_close_after}s"
    argv = command_of(conf, "runOnDemand")
    assert argv[0] == "ffmpeg"
    assert argv[argv.index("-f") + 1] == "lavfi"
    assert argv[argv.index("-i") + 1] == "testsrc2=size=320x240:rate=10"
    assert argv[argv.index("-c:v") + 1] == "libx264"
    assert argv[argv.index("-pix_fmt") + 1] == "yuv420p"
    assert argv[argv.index("-g") + 1] == "10"  # a key frame every second
    assert argv[-3:] == ["-rtsp_transport", "tcp", "rtsp://127.0.0.1:8554/camera1000"]


def test_virtual_camera_follows_its_mode_and_the_configured_ports(make_config):
    config = make_config({"rtsp_port": 18554, "ffmpeg": "/opt/ffmpeg/bin/ffmpeg", "source_start_timeout": 7}).mediamtx
    conf = path_conf(virtual("camera12", resolution="1280x720", fps=30), config)
    argv = command_of(conf, "runOnDemand")
    assert argv[0] == "/opt/ffmpeg/bin/ffmpeg"
    assert "testsrc2=size=1280x720:rate=30" in argv
    assert argv[argv.index("-g") + 1] == "30"
    assert argv[-1] == "rtsp://127.0.0.1:18554/camera12"
    assert conf["runOnDemandStartTimeout"] == "7s"


def test_a_source_runs_on_demand_only(make_config):
    # a stream that must keep running is held open by a keep-alive reader;
    # the path configuration never changes for it (MediaMTX v1.20.1 would
    # close the path and drop its viewers)
    config = make_config().mediamtx
    conf = path_conf(virtual(), config)
    assert conf["runOnInit"] == "" and conf["runOnInitRestart"] is False
    assert conf["runOnDemand"]
    assert path_conf(network(), config)["sourceOnDemand"] is True


def test_hardware_encoder_name_passes_through(make_config):
    config = make_config({"encoder": "h264_v4l2m2m"}).mediamtx
    argv = command_of(path_conf(virtual(fps=15), config), "runOnDemand")
    assert argv[argv.index("-c:v") + 1] == "h264_v4l2m2m"
    assert "libx264" not in argv and "-preset" not in argv
    assert argv[argv.index("-g") + 1] == "15"


def test_publish_url_brackets_an_ipv6_host(make_config):
    config = make_config({"media_host": "::1"}).mediamtx
    assert publish_url(config, "camera3") == "rtsp://[::1]:8554/camera3"
    assert command_of(path_conf(virtual("camera3"), config), "runOnDemand")[-1] == "rtsp://[::1]:8554/camera3"
    config = make_config({"mode": "external", "host": "::1"}).mediamtx
    assert publish_url(config, "camera3") == "rtsp://[::1]:8554/camera3"


@pytest.mark.parametrize(
    "mediamtx, host",
    [
        ({}, "127.0.0.1"),  # the default: managed, listening on loopback
        ({"media_host": "192.168.1.10"}, "192.168.1.10"),  # managed, one address: that address
        ({"media_host": "0.0.0.0", "host": "127.0.0.2"}, "127.0.0.2"),  # every interface: host
        ({"media_host": "::", "host": "127.0.0.2"}, "127.0.0.2"),
        ({"mode": "external", "host": "10.0.0.5", "media_host": "192.168.1.10"}, "10.0.0.5"),  # not ours
    ],
)
def test_sources_publish_where_mediamtx_listens(make_config, mediamtx, host):
    config = make_config(mediamtx).mediamtx
    assert rtsp_host(config) == host
    assert urlsplit(publish_url(config, "camera3")).hostname == host


def test_network_camera_is_pulled_by_mediamtx_on_demand(make_config):
    config = make_config().mediamtx
    conf = path_conf(network(url="rtsp://192.0.2.7:554/stream1"), config)
    assert conf == {
        "source": "rtsp://192.0.2.7:554/stream1",
        "sourceOnDemand": True,
        "sourceOnDemandStartTimeout": "10s",
        "sourceOnDemandCloseAfter": "10s",
        "rtspTransport": "tcp",
    }
    assert not any(key.startswith("runOn") for key in conf)


def _usb(fourcc, encoder=None):
    return Camera("camera0", CameraKind.USB, "Webcam", CameraStatus.CONNECTED, "1280x720", 30,
                  source="/dev/video0", input_format=fourcc, encoder=encoder)


def test_usb_mjpeg_camera_is_captured_and_encoded(make_config):
    config = make_config().mediamtx
    argv = shlex.split(path_conf(_usb("MJPG"), config)["runOnDemand"])
    assert argv[argv.index("-f") + 1] == "v4l2"
    assert argv[argv.index("-input_format") + 1] == "mjpeg"
    assert argv[argv.index("-video_size") + 1] == "1280x720"
    assert argv[argv.index("-framerate") + 1] == "30"
    assert argv[argv.index("-i") + 1] == "/dev/video0"
    assert argv[argv.index("-c:v") + 1] == "libx264"
    assert argv[-1] == publish_url(config, "camera0")


def test_usb_h264_camera_is_passed_through(make_config):
    argv = shlex.split(path_conf(_usb("H264"), make_config().mediamtx)["runOnDemand"])
    assert argv[argv.index("-input_format") + 1] == "h264"
    assert argv[argv.index("-c:v") + 1] == "copy"
    assert "libx264" not in argv


def test_usb_camera_encoder_override(make_config):
    argv = shlex.split(path_conf(_usb("YUYV", encoder="h264_v4l2m2m"), make_config().mediamtx)["runOnDemand"])
    assert argv[argv.index("-input_format") + 1] == "yuyv422"
    assert argv[argv.index("-c:v") + 1] == "h264_v4l2m2m"


@pytest.mark.parametrize("fourcc, ffmpeg_name", [
    ("MJPG", "mjpeg"), ("JPEG", "mjpeg"), ("H264", "h264"), ("YUYV", "yuyv422"), ("UYVY", "uyvy422"),
    ("NV12", "nv12"), ("YU12", "yuv420p"), ("YV12", "yuv420p"), ("RGB3", "rgb24"), ("BGR3", "bgr24"),
    ("GREY", "gray"),
])
def test_usb_camera_asks_ffmpeg_for_the_probed_format(make_config, fourcc, ffmpeg_name):
    argv = shlex.split(path_conf(_usb(fourcc), make_config().mediamtx)["runOnDemand"])
    assert argv[argv.index("-input_format") + 1] == ffmpeg_name
    # the input options come before the input they apply to
    assert argv.index("-input_format") < argv.index("-i") and argv[argv.index("-i") + 1] == "/dev/video0"
    assert (argv[argv.index("-c:v") + 1] == "copy") == (fourcc == "H264")


@pytest.mark.parametrize("fourcc", [None, "Y16", "BA81"])
def test_usb_camera_without_a_format_ffmpeg_knows_lets_ffmpeg_choose(make_config, fourcc):
    argv = shlex.split(path_conf(_usb(fourcc), make_config().mediamtx)["runOnDemand"])
    assert "-input_format" not in argv
    assert argv[argv.index("-video_size") + 1] == "1280x720" and argv[argv.index("-framerate") + 1] == "30"
    assert argv[argv.index("-c:v") + 1] == "libx264"  # encoded, never copied


def test_usb_camera_without_a_known_mode_lets_ffmpeg_choose_it(make_config):
    camera = Camera("camera3", CameraKind.USB, "Webcam", CameraStatus.ERROR, "unknown", 0, source="/dev/video3")
    argv = shlex.split(path_conf(camera, make_config().mediamtx)["runOnDemand"])
    assert "-video_size" not in argv and "-framerate" not in argv and "-input_format" not in argv
    assert argv[argv.index("-i") + 1] == "/dev/video3"
    assert argv[argv.index("-g") + 1] == "30"  # key frames assuming 30 fps


def test_a_host_name_as_media_host_is_refused_by_the_config(make_config):
    # MediaMTX binds to it and lets it publish: only an IP address works
    with pytest.raises(ConfigError) as info:
        make_config({"media_host": "localhost"})
    (problem,) = info.value.problems
    assert problem.key == "mediamtx.media_host"
    assert problem.rule == "must be an IP address (0.0.0.0 for every interface)"


# -- StreamLocator --------------------------------------------------------------

def locator(make_config, mediamtx=None, streams=None):
    config = make_config(mediamtx, streams)
    return StreamLocator(config.mediamtx, config.streams)


def test_urls_use_media_host_and_each_protocols_port(make_config):
    urls = locator(make_config, {"media_host": "192.168.1.10", "rtsp_port": 1554, "hls_port": 1888,
                                 "webrtc_port": 1889}).urls("camera5")
    assert urls == {
        "rtsp": "rtsp://192.168.1.10:1554/camera5",
        "hls": "http://192.168.1.10:1888/camera5/index.m3u8",
        "webrtc": "http://192.168.1.10:1889/camera5/whep",
    }


def test_public_host_wins(make_config):
    streams = locator(make_config, {"media_host": "0.0.0.0"}, {"public_host": "cams.example.org"})
    assert streams.url("camera5") == "rtsp://cams.example.org:8554/camera5"
    assert streams.urls("camera5")["hls"] == "http://cams.example.org:8888/camera5/index.m3u8"


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_a_wildcard_media_host_becomes_loopback(make_config, wildcard):
    assert locator(make_config, {"media_host": wildcard}).url("camera5") == "rtsp://127.0.0.1:8554/camera5"


@pytest.mark.parametrize(
    "mediamtx, streams, expected",
    [
        ({"media_host": "fd00::5"}, None, "rtsp://[fd00::5]:8554/camera5"),
        ({"media_host": "0.0.0.0"}, {"public_host": "2001:db8::1"}, "rtsp://[2001:db8::1]:8554/camera5"),
        ({"media_host": "0.0.0.0"}, {"public_host": "[2001:db8::1]"}, "rtsp://[2001:db8::1]:8554/camera5"),
    ],
)
def test_ipv6_hosts_are_bracketed_once(make_config, mediamtx, streams, expected):
    urls = locator(make_config, mediamtx, streams).urls("camera5")
    assert urls["rtsp"] == expected
    assert urlsplit(urls["webrtc"]).hostname == urlsplit(expected).hostname


def test_protocols_that_are_off_have_no_url(make_config):
    urls = locator(make_config, {"protocols": ["rtsp"]}).urls("camera5")
    assert urls == {"rtsp": "rtsp://127.0.0.1:8554/camera5", "hls": None, "webrtc": None}
    urls = locator(make_config, {"protocols": ["rtsp", "webrtc"]}).urls("camera5")
    assert urls["hls"] is None and urls["webrtc"] == "http://127.0.0.1:8889/camera5/whep"


# -- path_figures -------------------------------------------------------------

#: a live path as v1.20.1's /v3/paths/get answers (the Path schema); Go
#: writes times in RFC 3339 with nanoseconds
SINCE = "2026-01-01T10:00:00.123456789Z"
SINCE_POSIX = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=timezone.utc).timestamp()
LIVE = {
    "name": "camera1000",
    "confName": "camera1000",
    "source": {"type": "rtspSession", "id": "7a3c1f5e-4f2b-4d7c-9b1a-2c5d3e4f6a7b"},
    "ready": True,
    "readyTime": SINCE,
    "available": True,
    "availableTime": SINCE,
    "online": True,
    "onlineTime": SINCE,
    "tracks": ["H264"],
    "tracks2": [{"codec": "H264", "codecProps": {"width": 320, "height": 240, "profile": "High", "level": "2.0"}}],
    "inboundBytes": 1_250_000,
    "inboundFramesInError": 0,
    "outboundBytes": 3_000_000,
    "bytesReceived": 1_250_000,
    "bytesSent": 3_000_000,
    "readers": [{"type": "rtspSession", "id": "a1"}, {"type": "webRTCSession", "id": "b2"}],
}
IDLE = {
    "name": "camera1001", "confName": "camera1001", "source": None, "ready": False, "readyTime": None,
    "available": False, "availableTime": None, "online": False, "onlineTime": None, "tracks": [],
    "tracks2": [], "inboundBytes": 0, "inboundFramesInError": 0, "outboundBytes": 0,
    "bytesReceived": 0, "bytesSent": 0, "readers": [],
}


def test_figures_of_a_publishing_path():
    assert path_figures(LIVE, SINCE_POSIX + 100.5) == {
        "ready": True,
        "readers": 2,
        "bytes_in": 1_250_000,
        "bytes_out": 3_000_000,
        "uptime": 100,
        "bitrate": int(1_250_000 * 8 / 100.5),
        "source": "rtspSession",
    }


def test_online_since_reads_nanosecond_times_and_offsets():
    assert online_since(LIVE) == pytest.approx(SINCE_POSIX, abs=1e-5)
    assert online_since(dict(LIVE, availableTime="2026-01-01T11:00:00.5+01:00")) == pytest.approx(
        datetime(2026, 1, 1, 10, 0, 0, 500000, tzinfo=timezone.utc).timestamp()
    )
    assert online_since(dict(LIVE, availableTime="garbage", onlineTime=None, readyTime=None)) is None


def test_figures_of_an_idle_path():
    assert path_figures(IDLE, SINCE_POSIX) == {
        "ready": False, "readers": 0, "bytes_in": 0, "bytes_out": 0, "uptime": 0, "bitrate": 0, "source": None,
    }


def test_no_path_has_empty_figures():
    figures = path_figures(None, SINCE_POSIX)
    assert figures["ready"] is False and figures["readers"] == 0 and figures["uptime"] == 0


def test_no_bitrate_in_the_first_second():
    assert path_figures(LIVE, SINCE_POSIX + 0.5)["bitrate"] == 0
    assert path_figures(LIVE, SINCE_POSIX + 0.5)["uptime"] == 0


def test_a_clock_behind_the_servers_gives_zero_uptime_not_negative():
    figures = path_figures(LIVE, SINCE_POSIX - 30)
    assert figures["uptime"] == 0 and figures["bitrate"] == 0


def test_before_v1_19_ready_and_byte_fields_are_used():
    old = {k: v for k, v in LIVE.items() if k not in ("available", "availableTime", "online", "onlineTime",
                                                      "inboundBytes", "outboundBytes")}
    figures = path_figures(old, SINCE_POSIX + 10)
    assert is_ready(old)
    assert figures["uptime"] == 10
    assert figures["bytes_in"] == 1_250_000 and figures["bytes_out"] == 3_000_000
    assert figures["bitrate"] == 1_000_000


def test_available_wins_over_the_deprecated_ready():
    assert not is_ready(dict(LIVE, available=False, ready=True))


# -- mediamtx.yml ---------------------------------------------------------------

ACCESS = MediaAccess("http://127.0.0.1:9996/mediamtx/auth", ("http://127.0.0.1:8002",))


@pytest.mark.parametrize("media_host", ["127.0.0.1", "0.0.0.0", "192.168.1.10"])
def test_mediamtx_asks_camservice_about_every_request_the_apis_included(make_config, tmp_path, media_host):
    settings = mediamtx_settings(make_config({"media_host": media_host}).mediamtx, tmp_path, ACCESS)
    assert settings["authMethod"] == "http"
    assert settings["authHTTPAddress"] == "http://127.0.0.1:9996/mediamtx/auth"
    # MediaMTX's default excludes api, metrics and pprof (open to anyone)
    assert settings["authHTTPExclude"] == []
    assert "authInternalUsers" not in settings


def test_no_origin_may_call_the_api_and_media_origins_are_never_a_wildcard(make_config, tmp_path):
    access = MediaAccess(ACCESS.auth_url, ("http://127.0.0.1:8002", "*", "https://*.example.org"))
    settings = mediamtx_settings(make_config().mediamtx, tmp_path, access)
    assert settings["apiAllowOrigins"] == []
    for key in ("hlsAllowOrigins", "webrtcAllowOrigins"):
        assert settings[key] == ["http://127.0.0.1:8002"], key
    for key in ("metricsAllowOrigins", "pprofAllowOrigins", "playbackAllowOrigins"):
        assert settings[key] == [], key


def test_media_origins_are_the_consoles_plus_configured_ones(make_config):

    config = make_config(None, {"allowed_origins": ["https://wall.example.org"]})
    assert media_origins(config.server, config.streams) == ("http://127.0.0.1:8002", "https://wall.example.org")


def test_console_origin_of_an_api_on_every_interface_uses_the_public_host(make_config):
    import dataclasses

    config = make_config(None, {"public_host": "cams.example.org"})
    server = dataclasses.replace(config.server, host="0.0.0.0", port=9000)
    assert console_origin(server, config.streams) == "http://cams.example.org:9000"

def test_api_listens_on_host_only(make_config, tmp_path):
    settings = mediamtx_settings(make_config({"host": "127.0.0.2", "api_port": 19997}).mediamtx, tmp_path, ACCESS)
    assert settings["api"] is True
    assert settings["apiAddress"] == "127.0.0.2:19997"
    assert mediamtx_settings(make_config({"host": "::1"}).mediamtx, tmp_path, ACCESS)["apiAddress"] == "[::1]:9997"


def test_media_servers_listen_on_media_host(make_config, tmp_path):
    settings = mediamtx_settings(make_config({"media_host": "0.0.0.0", "rtsp_port": 1554}).mediamtx, tmp_path, ACCESS)
    assert settings["rtspAddress"] == "0.0.0.0:1554"
    assert settings["hlsAddress"] == "0.0.0.0:8888"
    assert settings["webrtcAddress"] == "0.0.0.0:8889"


def test_protocols_not_configured_are_off(make_config, tmp_path):
    settings = mediamtx_settings(make_config({"protocols": ["rtsp"]}).mediamtx, tmp_path, ACCESS)
    assert settings["rtsp"] is True
    assert settings["hls"] is False
    assert settings["webrtc"] is False
    settings = mediamtx_settings(make_config({"protocols": ["rtsp", "hls"]}).mediamtx, tmp_path, ACCESS)
    assert settings["hls"] is True and settings["webrtc"] is False


def test_rtmp_srt_moq_and_extras_are_always_off(make_config, tmp_path):
    settings = mediamtx_settings(make_config().mediamtx, tmp_path, ACCESS)
    for key in ("rtmp", "srt", "moq", "playback", "metrics", "pprof"):
        assert settings[key] is False, key


def test_recordings_go_under_the_given_folder_and_are_never_deleted_by_mediamtx(make_config, tmp_path):
    folder = tmp_path / "data" / "recordings"
    defaults = mediamtx_settings(make_config().mediamtx, folder, ACCESS)["pathDefaults"]
    assert defaults["recordDeleteAfter"] == "0s"
    assert Path(defaults["recordPath"]).parent.parent == folder
    assert "%path" in defaults["recordPath"]


def test_paths_are_left_to_the_api(make_config, tmp_path):
    assert mediamtx_settings(make_config().mediamtx, tmp_path, ACCESS)["paths"] == {}


def test_the_file_is_written_privately_and_parses_back(make_config, tmp_path):
    config = make_config({"log_level": "info"})
    path = write_mediamtx_config(config.mediamtx, tmp_path / "data", ACCESS)
    assert path == tmp_path / "data" / "mediamtx" / "mediamtx.yml"
    assert path.stat().st_mode & 0o777 == 0o600
    written = yaml.safe_load(path.read_text())
    assert written == mediamtx_settings(config.mediamtx, tmp_path / "data" / "recordings", ACCESS)
    assert written["logLevel"] == "info"
