"""Reloading the configuration while a real client stays connected: each
kind of setting takes effect; an invalid file, a key that cannot change and
a service that fails to apply each leave the old config in force, with an
error event; backups rotate; SIGHUP (a real signal) reloads."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import pytest_twisted
import yaml
from twisted.internet import defer, reactor, task
from twisted.logger import LogLevel

from camservice.auth.roles import Role
from camservice.auth.tokens import TokenAuthority
from camservice.signals import SignalService
from helpers.waiting import until


@pytest.fixture
def service_settings():
    return {"reload": {"backups": 2}, "streams": {"signed_urls": True, "token_ttl": 3600}}


def _edit(live, change) -> None:
    path = Path(live.config.source)
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


async def _next_event(client, topic, timeout=10.0):
    async def wait():
        while True:
            message = await client.notifications.get()
            if message["method"] == "event" and message["params"]["topic"] == topic:
                return message["params"]

    d = defer.ensureDeferred(wait())
    d.addTimeout(timeout, reactor)
    return await d


async def _still_works(client):
    reply = await client.call("get_camera_list")
    assert "result" in reply, reply
    assert client.close_code is None


def _level(live):
    return live.tree.log_observer._predicate.logLevelForNamespace(None)


@pytest_twisted.ensureDeferred
async def test_log_level_and_format_change_while_connected(live):
    admin = await live.authed_client("admin")
    viewer = await live.authed_client("viewer")
    _edit(live, lambda d: d["logging"].update(level="debug", format="text"))
    reply = await admin.call("reload_config")
    assert reply["result"]["status"] == "applied", reply
    assert reply["result"]["changed"] == ["logging"]
    assert reply["result"]["who"] == "tester"
    event = await _next_event(admin, "system.config_changed")
    assert (event["status"], event["changed"], event["who"]) == ("applied", ["logging"], "tester")
    assert _level(live) == LogLevel.debug
    assert live.tree.getServiceNamed("api").factory.dispatcher.trace is True
    assert live.tree.reloader.config.logging.format == "text"
    await _still_works(admin)
    await _still_works(viewer)
    # the viewer never hears of configuration changes
    assert viewer.notifications.pending == []
    await admin.close()
    await viewer.close()


@pytest_twisted.ensureDeferred
async def test_a_new_jwt_secret_takes_effect_and_the_open_session_stays(live):
    admin = await live.authed_client("admin")
    new_secret = "n" * 40
    _edit(live, lambda d: d.setdefault("auth", {}).update(jwt_secret=new_secret, leeway=5))
    reply = await admin.call("reload_config")
    assert reply["result"]["changed"] == ["auth"], reply
    old_token = live.token("viewer")
    other = await live.connect()
    refused = await other.call("authenticate", {"auth_token": old_token})
    assert refused["error"]["code"] == -32001
    new_token = TokenAuthority(new_secret, reactor).issue("tester", Role.viewer, 3600)
    accepted = await other.call("authenticate", {"auth_token": new_token})
    assert accepted["result"]["authenticated"] is True
    await _still_works(admin)
    await other.close()
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_server_limits_apply_to_new_connections_and_rate_limits_to_open_ones(live):
    admin = await live.authed_client("admin")
    _edit(live, lambda d: d["server"].update(max_connections_per_address=1,
                                             rate_limit={"requests_per_second": 1000, "burst": 500}))
    reply = await admin.call("reload_config")
    assert reply["result"]["changed"] == ["server"], reply
    with pytest.raises(ConnectionError):
        await live.connect()
    await _still_works(admin)
    (proto,) = live.tree.getServiceNamed("api").factory.open_protocols
    assert proto.session.rate_limiter is not None
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_an_invalid_file_keeps_the_old_config(live, log_events):
    errors = log_events("camservice.ops.reload")
    admin = await live.authed_client("admin")
    Path(live.config.source).write_text("server: [not, a, mapping\n")
    reply = await admin.call("reload_config")
    error = reply["error"]
    assert error["code"] == -32020
    assert (error["data"]["state"], error["data"]["stage"]) == ("config_refused", "load")
    assert "invalid YAML" in error["data"]["reasons"][0]
    event = await _next_event(admin, "system.config_changed")
    assert event["status"] == "refused" and event["reasons"] == error["data"]["reasons"]
    assert [e["stage"] for e in errors if e["log_level"] == LogLevel.error] == ["load"]
    assert live.tree.reloader.config is live.config
    await _still_works(admin)
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_an_unchangeable_key_is_refused_by_name(live, log_events):
    audit = log_events("camservice.audit")
    admin = await live.authed_client("admin")
    _edit(live, lambda d: (d["server"].update(port=live.port + 1), d["logging"].update(level="debug"),
                           d.update(data_dir=d["data_dir"] + "-other")))
    reply = await admin.call("reload_config")
    data = reply["error"]["data"]
    assert data["stage"] == "check"
    # keys derived from data_dir (secret, keys files...) are named too
    assert {
        "data_dir: cannot change while running; restart camservice to apply it",
        "server.port: cannot change while running; restart camservice to apply it",
    } <= set(data["reasons"])
    assert not any(r.startswith("logging") for r in data["reasons"])
    assert _level(live) == LogLevel.info  # nothing applied, not even the level
    assert [e["outcome"] for e in audit if e.get("what") == "reload_config" and "reasons" in e] == ["refused"]
    await _still_works(admin)
    await admin.close()


class _Failing:
    reloadable_keys = ()

    def checkConfig(self, new):
        pass

    def reconfigService(self, new):
        if new.logging.level == "debug":
            return defer.fail(RuntimeError("cannot take debug"))
        return defer.succeed(None)


@pytest_twisted.ensureDeferred
async def test_a_failing_service_rolls_back_those_applied(live):
    admin = await live.authed_client("admin")
    live.tree.reloader.participants.insert(2, ("failing", _Failing()))  # after logging and auth
    _edit(live, lambda d: d["logging"].update(level="debug"))
    reply = await admin.call("reload_config")
    data = reply["error"]["data"]
    assert (data["stage"], data["reasons"]) == ("apply", ["failing: cannot take debug"])
    event = await _next_event(admin, "system.config_changed")
    assert event["status"] == "rolled_back"
    assert _level(live) == LogLevel.info
    assert live.tree.getServiceNamed("api").factory.dispatcher.trace is False
    assert live.tree.reloader.config is live.config
    await _still_works(admin)
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_backups_rotate_and_are_private(live):
    admin = await live.authed_client("admin")
    backups = Path(live.config.data_dir) / "config-backups"
    for level in ("debug", "warn", "info"):
        _edit(live, lambda d: d["logging"].update(level=level))
        reply = await admin.call("reload_config")
        assert reply["result"]["status"] == "applied", reply
    copies = sorted(backups.iterdir())
    assert len(copies) == 2
    assert "level: info" in copies[-1].read_text()
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in copies)
    assert reply["result"]["backup"] == str(copies[-1])
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_two_sighups_give_one_or_two_reloads_never_an_overlap(live):
    admin = await live.authed_client("admin")
    reloader = live.tree.reloader
    active, peak = [], []
    original = reloader._walk

    def watched(who):
        active.append(who)
        peak.append(len(active))
        return original(who).addBoth(lambda r: (active.pop(), r)[1])

    reloader._walk = watched
    signals = SignalService(reactor, on_reload=lambda: reloader.reload("SIGHUP"))
    signals.startService()
    try:
        _edit(live, lambda d: d["logging"].update(level="debug"))
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGHUP)
        event = await _next_event(admin, "system.config_changed")
        assert (event["status"], event["who"]) == ("applied", "SIGHUP")
        for _ in range(50):
            if not reloader.running_reload:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        assert 1 <= reloader.runs <= 2
        assert peak and max(peak) == 1  # never two walks at once
        assert _level(live) == LogLevel.debug
    finally:
        signals.stopService()
    await _still_works(admin)
    await admin.close()


async def _mediamtx_paths(live) -> set:
    import treq

    response = await treq.get(live.api("/v3/config/paths/list"), auth=live.api_auth)
    body = await response.json()
    return {item["name"] for item in body["items"]}


@pytest_twisted.ensureDeferred
async def test_declared_cameras_are_added_changed_and_removed(live):
    admin = await live.authed_client("admin")
    assert await until(lambda: defer.succeed("camera1000" in live.registry))
    added = {"id": "camera1001", "kind": "virtual", "name": "Second", "resolution": "320x240", "fps": 5}
    _edit(live, lambda d: d["cameras"].update(declared=[
        dict(d["cameras"]["declared"][0], name="Renamed"), added,
    ]))
    reply = await admin.call("reload_config")
    assert reply["result"]["changed"] == ["cameras"], reply
    assert live.registry.get("camera1000").name == "Renamed"
    assert live.registry.get("camera1001").fps == 5

    async def both_paths():
        return {"camera1000", "camera1001"} <= await _mediamtx_paths(live)

    assert await until(both_paths)
    _edit(live, lambda d: d["cameras"].update(declared=[added]))
    reply = await admin.call("reload_config")
    assert reply["result"]["status"] == "applied", reply
    assert "camera1000" not in live.registry

    async def first_gone():
        return "camera1000" not in await _mediamtx_paths(live)

    assert await until(first_gone)
    updates = []
    while admin.notifications.pending:
        message = await admin.notifications.get()
        if message["method"] == "camera_status_update":
            updates.append((message["params"]["device"], message["params"]["status"]))
    assert ("camera1001", "CONNECTED") in updates and ("camera1000", "DISCONNECTED") in updates
    await _still_works(admin)
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_stream_url_host_and_token_lifetime_change(live):
    import time

    viewer = await live.authed_client("viewer")
    admin = await live.authed_client("admin")
    before = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]
    _edit(live, lambda d: d["streams"].update(public_host="cams.example.test", token_ttl=120))
    reply = await admin.call("reload_config")
    assert reply["result"]["changed"] == ["streams"], reply
    after = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]
    assert "127.0.0.1" in str(before) and "cams.example.test" not in str(before)
    rtsp = after["streams"]["rtsp"] if "streams" in after else after["stream_url"]
    assert rtsp.startswith("rtsp://cams.example.test:")
    expires = int(rtsp.split("token=")[1].split("-")[1])
    assert expires - time.time() <= 120 + 30 + 5
    await _still_works(viewer)
    await viewer.close()
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_mediamtx_path_settings_are_reconciled_at_once(live):
    import treq

    admin = await live.authed_client("admin")
    _edit(live, lambda d: d["mediamtx"].update(on_demand_close_after=17, health_check_interval=0.7))
    reply = await admin.call("reload_config")
    assert reply["result"]["changed"] == ["mediamtx"], reply
    response = await treq.get(live.api("/v3/config/paths/get/camera1000"), auth=live.api_auth)
    conf = await response.json()
    assert conf["runOnDemandCloseAfter"] == "17s"
    assert live.controller._health_loop.interval == 0.7
    # the kind of MediaMTX camservice runs is refused by name
    _edit(live, lambda d: d["mediamtx"].update(mode="external"))
    reply = await admin.call("reload_config")
    assert reply["error"]["data"]["reasons"] == [
        "mediamtx.mode: cannot change while running; restart camservice to apply it"]
    await _still_works(admin)
    await admin.close()


async def _h264_packets(url: str, seconds: float = 1.0) -> int:
    """Packets of H264 video ffprobe reads from ``url`` in ``seconds``."""
    import json

    from helpers.processes import run

    code, out, err = await run(
        reactor,
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
         "-read_intervals", f"%+{seconds}", "-count_packets",
         "-show_entries", "stream=codec_name,nb_read_packets", "-of", "json", url],
        timeout=30,
    )
    assert code == 0, err
    (stream,) = json.loads(out)["streams"]
    assert stream["codec_name"] == "h264"
    return int(stream["nb_read_packets"])


async def _refused(port: int) -> bool:
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Protocol

    try:
        proto = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=2), Protocol())
    except ConnectionError:
        return True
    except Exception as e:  # ConnectionRefusedError is no ConnectionError on every Twisted
        return "refused" in str(e).lower()
    proto.transport.loseConnection()
    return False


@pytest_twisted.ensureDeferred
async def test_mediamtx_ports_move_live_and_the_stream_plays_on_the_new_one(live):
    import treq

    from helpers.processes import free_ports

    viewer = await live.authed_client("viewer")
    admin = await live.authed_client("admin")
    process = live.tree.getServiceNamed("mediamtx-process")
    pid = process.pid
    old = live.config.mediamtx
    before = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]
    assert await _h264_packets(before["stream_url"]) > 0
    rtsp, hls, api, auth = free_ports(4)
    _edit(live, lambda d: (d["mediamtx"].update(rtsp_port=rtsp, hls_port=hls, api_port=api),
                           d["streams"].update(auth_port=auth, allowed_origins=["https://console.example.test"])))
    reply = await admin.call("reload_config")
    assert reply["result"]["status"] == "applied", reply
    assert reply["result"]["changed"] == ["mediamtx", "streams"]
    assert process.pid == pid  # patched into the running MediaMTX, not restarted
    url = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"]
    assert url.startswith(f"rtsp://127.0.0.1:{rtsp}/camera1000?token=")
    (camera,) = (await viewer.call("get_camera_list"))["result"]["cameras"]
    assert camera["streams"]["hls"].startswith(f"http://127.0.0.1:{hls}/")
    # the paths' sources publish to the new port once reconciled; then it plays
    assert await until(lambda: defer.succeed(live.controller.health.value == "up"))
    assert await _h264_packets(url) > 0
    assert await _refused(old.rtsp_port)
    # the Control API moved, and still answers camservice's credentials only
    response = await treq.get(f"http://127.0.0.1:{api}/v3/config/global/get", auth=live.api_auth)
    conf = await response.json()
    assert conf["authHTTPAddress"] == f"http://127.0.0.1:{auth}/mediamtx/auth"
    assert "https://console.example.test" in conf["hlsAllowOrigins"]
    assert live.tree.getServiceNamed("stream-auth").listening_port == auth
    assert live.controller.api.base_url == f"http://127.0.0.1:{api}"
    # a reader without a token is still refused: the auth callback answers on its new port
    code, _, _ = await __import__("helpers.processes", fromlist=["run"]).run(
        reactor, ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", url.split("?")[0]], timeout=30)
    assert code != 0
    await _still_works(viewer)
    await _still_works(admin)
    await viewer.close()
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_metrics_access_reloads(live):
    import treq

    admin = await live.authed_client("admin")
    assert (await treq.get(live.http + "/metrics")).code == 200  # auto on loopback: public
    _edit(live, lambda d: d["server"].update(metrics_access="authenticated"))
    reply = await admin.call("reload_config")
    assert reply["result"]["changed"] == ["server"], reply
    assert (await treq.get(live.http + "/metrics")).code == 401
    authed = await treq.get(live.http + "/metrics", headers={"Authorization": "Bearer " + live.token("admin")})
    assert authed.code == 200
    await _still_works(admin)
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_discovery_mode_switches_while_a_client_stays_connected(write_config, tmp_path):
    from camservice.app import Overrides
    from camservice.config import load_config
    from helpers.live import start_live
    from helpers.processes import media_ports
    from helpers.udevbed import Bed, FakeV4L2, umockdev_active

    assert umockdev_active(), "run under umockdev-wrapper"
    bed = Bed()
    v4l2 = FakeV4L2(tmp_path / "v4l2-ctl-bin")
    v4l2.set("/dev/video0", "uvc_c920")
    v4l2.set("/dev/video2", "uvc_c920")
    ports, auth_port = media_ports()
    config = load_config(write_config({
        "server": {"port": 0, "shutdown_timeout": 5, "auto_ping_interval": 0},
        "mediamtx": dict(ports, health_check_interval=0.5),
        "streams": {"auth_port": auth_port},
        "discovery": {"mode": "udev", "v4l2_ctl": str(v4l2.executable), "probe_timeout": 2, "debounce": 0.2,
                      "poll_interval": 0.2},
        "cameras": {"declared": []},
    }))
    live = start_live(config, reactor, Overrides(has_udev=lambda: True))
    try:
        viewer = await live.authed_client("viewer")
        admin = await live.authed_client("admin")

        async def note(device):
            while True:
                d = viewer.notifications.get()
                d.addTimeout(10, reactor)
                message = await d
                if message["method"] == "camera_status_update" and message["params"]["device"] == device:
                    return message["params"]["status"]

        bed.add_webcam(0)
        assert await note("camera0") == "CONNECTED"
        _edit(live, lambda d: d["discovery"].update(mode="poll"))
        reply = await admin.call("reload_config")
        assert (reply["result"]["status"], reply["result"]["changed"]) == ("applied", ["discovery"]), reply
        assert live.monitor.mode_in_use == "poll" and live.monitor.watcher is None
        assert [c.id for c in live.registry.cameras()] == ["camera0"]  # the table is kept
        bed.unplug(0, uevent=False)  # only a scan can see this
        assert await note("camera0") == "DISCONNECTED"
        # and back to udev: events are read again, no scan loop runs
        _edit(live, lambda d: d["discovery"].update(mode="udev"))
        reply = await admin.call("reload_config")
        assert reply["result"]["status"] == "applied", reply
        assert live.monitor.mode_in_use == "udev" and live.monitor.watcher.running
        assert live.monitor._loop is None
        bed.add_webcam(2)
        assert await note("camera2") == "CONNECTED"
        await _still_works(viewer)
        await _still_works(admin)
        await viewer.close()
        await admin.close()
    finally:
        await live.tree.stopService()
        bed.close()


@pytest_twisted.ensureDeferred
async def test_a_port_mediamtx_cannot_take_rolls_back_and_the_stream_still_plays(live):
    import socket

    viewer = await live.authed_client("viewer")
    admin = await live.authed_client("admin")
    old_url = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"]
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        _edit(live, lambda d: d["mediamtx"].update(rtsp_port=taken.getsockname()[1]))
        reply = await admin.call("reload_config")
        data = reply["error"]["data"]
        assert data["stage"] == "apply", reply
        assert data["reasons"][0].startswith("mediamtx-process: MediaMTX exited applying the new settings")
        event = await _next_event(admin, "system.config_changed")
        assert event["status"] == "rolled_back"
    finally:
        taken.close()
    assert live.tree.reloader.config is live.config
    # MediaMTX came back on its old settings; the paths are restored
    assert await until(lambda: defer.succeed(live.controller.health.value == "up"), timeout=20)

    async def restored():
        from twisted.internet.error import ConnectionRefusedError

        try:
            return "camera1000" in await _mediamtx_paths(live)
        except ConnectionRefusedError:  # MediaMTX is still starting again
            return False

    # health may still say "up" from before the restart, and reconciliation
    # puts the camera's path back only after MediaMTX is up again
    assert await until(restored, timeout=20)
    assert (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"] == old_url
    assert await _h264_packets(old_url) > 0
    await _still_works(viewer)
    await _still_works(admin)
    await viewer.close()
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_a_new_mediamtx_binary_restarts_it_and_the_paths_come_back(live, tmp_path):
    import shutil

    viewer = await live.authed_client("viewer")
    admin = await live.authed_client("admin")
    process = live.tree.getServiceNamed("mediamtx-process")
    pid = process.pid
    other = tmp_path / "other-mediamtx"
    shutil.copy(process.binary, other)
    _edit(live, lambda d: d["mediamtx"].update(binary=str(other)))
    reply = await admin.call("reload_config")
    assert reply["result"]["status"] == "applied", reply
    assert process.pid != pid and process.binary == str(other)
    assert await until(lambda: defer.succeed(live.controller.health.value == "up"), timeout=20)

    async def restored():
        return "camera1000" in await _mediamtx_paths(live)

    assert await until(restored)
    url = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"]
    assert await _h264_packets(url) > 0
    await _still_works(viewer)
    await viewer.close()
    await admin.close()


@pytest_twisted.ensureDeferred
async def test_signed_urls_turned_off_let_a_plain_url_play(live):
    viewer = await live.authed_client("viewer")
    admin = await live.authed_client("admin")
    signed = (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"]
    plain = signed.split("?")[0]
    assert "?token=" in signed
    _edit(live, lambda d: d["streams"].update(signed_urls=False))
    reply = await admin.call("reload_config")
    assert reply["result"]["changed"] == ["streams"], reply
    assert (await viewer.call("get_stream_url", {"device": "camera1000"}))["result"]["stream_url"] == plain
    assert await _h264_packets(plain) > 0
    await _still_works(viewer)
    await viewer.close()
    await admin.close()
