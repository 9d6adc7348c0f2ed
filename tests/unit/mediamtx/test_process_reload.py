"""MediaMTXProcess in a reload: MediaMTX's global settings are patched in
live through the Control API (confirmed by an empty patch answered after
the change is applied), a new binary restarts the child, a MediaMTX that
exits applying them restarts with the previous file, the file follows a
live change before the child's next start, and a rollback patches the old
settings back. On a fake process reactor and the in-memory Control API."""
from __future__ import annotations

import pytest
import yaml
from twisted.internet import defer

from camservice.config import ConfigError, load_config
from camservice.events import EventBus
from camservice.mediamtx.binary import PINNED_VERSION
from camservice.mediamtx.config_file import MediaAccess, media_origins
from camservice.mediamtx.errors import MediaMTXRejected, MediaMTXUnavailable
from camservice.mediamtx.process import MediaMTXProcess, MediaMTXReloadFailed
from camservice.metrics import Metrics
from camservice.ops.reload import ReloadCoordinator
from camservice.streamauth.service import auth_url
from fakes.mediamtx import FakeMediaMTX
from fakes.process_reactor import FakeProcessReactor
from helpers.deferreds import fails_with, outcome

PORTS = {"api_port": 19997, "rtsp_port": 18554, "hls_port": 18888, "webrtc_port": 18889, "webrtc_udp_port": 18189}


def _binary(path, version=PINNED_VERSION):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def rig(write_config, tmp_path):
    class Rig:
        pass

    r = Rig()
    r.binary = _binary(tmp_path / "bin" / "mediamtx")
    r.write_config = write_config

    def config(**mediamtx):
        settings = dict(PORTS, binary=r.binary, start_grace_period=2)
        settings.update(mediamtx)
        return load_config(write_config({"mediamtx": settings, "streams": {"auth_port": 19996}}))

    r.config = config
    r.old = config()
    r.reactor = FakeProcessReactor(1000.0)
    r.api = FakeMediaMTX(r.reactor)
    r.started = []
    r.exited = []
    access = MediaAccess(auth_url(r.old.streams.auth_port), media_origins(r.old.server, r.old.streams))
    r.process = MediaMTXProcess(r.old.mediamtx, r.old.data_dir, Metrics(), r.reactor, access,
                                on_started=lambda: r.started.append(r.reactor.seconds()), environ={"PATH": ""},
                                on_exited=r.exited.append,
                                api=r.api, run_blocking=lambda f, *a: defer.maybeDeferred(f, *a), jitter=lambda: 0)
    r.process.privilegedStartService()
    r.process.startService()
    r.file = r.old.data_dir / "mediamtx" / "mediamtx.yml"

    def on_disk():
        return yaml.safe_load(r.file.read_text())

    r.on_disk = on_disk
    yield r
    if r.process.running:
        d = r.process.stopService()
        r.reactor.advance(10)
        outcome(d)


def patches(api):
    return [call[1] for call in api.calls if call[0] == "patch_global"]


def test_a_port_change_is_patched_in_live_and_confirmed(rig):
    new = rig.config(rtsp_port=18555, hls_port=18900)
    assert outcome(rig.process.reconfigService(new)) is None
    assert patches(rig.api) == [{"rtspAddress": "127.0.0.1:18555", "hlsAddress": "127.0.0.1:18900"}, {}]
    assert len(rig.reactor.spawned) == 1 and rig.reactor.last().alive  # the same MediaMTX
    assert rig.process.settings["rtspAddress"] == "127.0.0.1:18555"
    # the file MediaMTX watches is left alone while it runs
    assert rig.on_disk()["rtspAddress"] == "127.0.0.1:18554"
    assert rig.started == [1000.0]


def test_after_a_live_change_a_restart_reads_the_new_settings(rig):
    outcome(rig.process.reconfigService(rig.config(log_level="debug")))
    rig.reactor.advance(30)  # a long run: its death is no quick death
    rig.reactor.last().exit(2)
    assert rig.on_disk()["logLevel"] == "debug"
    assert len(rig.reactor.spawned) == 2 and rig.reactor.last().alive
    assert rig.reactor.last().args[-1] == str(rig.file)
    assert len(rig.started) == 2


def test_a_setting_mediamtx_refuses_changes_nothing(rig):
    rig.api.fail_next("patch_global", MediaMTXRejected("PATCH /v3/config/global/patch: 400 invalid", 400))
    error = fails_with(rig.process.reconfigService(rig.config(rtsp_port=18556)), MediaMTXReloadFailed)
    assert "MediaMTX refused the new settings" in str(error)
    assert rig.process.settings["rtspAddress"] == "127.0.0.1:18554"
    assert rig.api.base_urls[-1] == "http://127.0.0.1:19997"


def test_a_mediamtx_that_exits_applying_restarts_with_the_previous_file(rig):
    real = rig.api.patch_global

    def patch(fields):
        if fields == {}:  # the port was taken: MediaMTX exits before the barrier is answered
            rig.reactor.last().exit(1)
            return defer.fail(MediaMTXUnavailable("connection refused"))
        return real(fields)

    rig.api.patch_global = patch
    d = rig.process.reconfigService(rig.config(rtsp_port=18557))
    rig.reactor.advance(1)
    error = fails_with(d, MediaMTXReloadFailed)
    assert "exited applying the new settings" in str(error)
    assert rig.process.settings["rtspAddress"] == "127.0.0.1:18554"
    assert rig.on_disk()["rtspAddress"] == "127.0.0.1:18554"
    assert len(rig.reactor.spawned) == 2 and rig.reactor.last().alive  # restarted, from the old file


def test_moving_the_api_points_the_client_at_the_new_address(rig):
    rig.api.fail_next("patch_global", MediaMTXUnavailable("connection lost"))  # closed as it moved
    outcome(rig.process.reconfigService(rig.config(api_port=19998)))
    assert patches(rig.api)[-1] == {}
    assert rig.api.base_urls == ["http://127.0.0.1:19997", "http://127.0.0.1:19998"]
    assert rig.process.settings["apiAddress"] == "127.0.0.1:19998"


def test_the_auth_port_and_origins_follow_the_streams_section(rig):
    new = load_config(rig.write_config({
        "mediamtx": dict(PORTS, binary=rig.binary, start_grace_period=2),
        "streams": {"auth_port": 19995, "allowed_origins": ["https://console.example.test"]},
    }))
    outcome(rig.process.reconfigService(new))
    (change, _) = patches(rig.api)
    assert change["authHTTPAddress"] == "http://127.0.0.1:19995/mediamtx/auth"
    assert "https://console.example.test" in change["hlsAllowOrigins"]
    assert change["hlsAllowOrigins"] == change["webrtcAllowOrigins"]


def test_a_new_binary_restarts_the_child(rig, tmp_path):
    other = _binary(tmp_path / "other" / "mediamtx")
    d = rig.process.reconfigService(rig.config(binary=other, rtsp_port=18558))
    assert rig.reactor.spawned[0].signals == ["TERM"]
    rig.reactor.advance(1)  # it exits
    outcome(d)
    assert len(rig.reactor.spawned) == 2
    assert rig.reactor.last().args == [other, str(rig.file)] and rig.reactor.last().alive
    assert rig.on_disk()["rtspAddress"] == "127.0.0.1:18558"
    assert patches(rig.api) == []  # a restart, not a patch
    assert len(rig.started) == 2  # the controller hears of it and restores the paths


def test_a_binary_that_is_not_mediamtx_is_refused_before_anything_stops(rig, tmp_path):
    other = _binary(tmp_path / "other" / "mediamtx", version="v1.9.0")
    fails_with(rig.process.reconfigService(rig.config(binary=other)), MediaMTXReloadFailed)
    assert rig.reactor.spawned[0].signals == [] and len(rig.reactor.spawned) == 1


def test_nothing_changed_means_no_call(rig):
    outcome(rig.process.reconfigService(rig.config(restart_max_delay=7)))
    assert patches(rig.api) == []
    assert rig.process.maxRestartDelay == 7


def test_two_services_on_one_port_are_refused_at_check(rig):
    with pytest.raises(ConfigError) as e:
        rig.process.checkConfig(rig.config(hls_port=18554))
    assert [p.key for p in e.value.problems] == ["mediamtx.hls_port"]


class _FailsAfter:
    reloadable_keys = ()

    def checkConfig(self, new):
        pass

    def reconfigService(self, new):
        if new.mediamtx.rtsp_port == 18559:
            return defer.fail(RuntimeError("cannot"))
        return defer.succeed(None)


def test_a_later_failure_patches_the_old_settings_back(rig):
    new = rig.config(rtsp_port=18559)
    c = ReloadCoordinator(rig.old, lambda: defer.succeed((new, "")),
                          [("mediamtx-process", rig.process), ("later", _FailsAfter())],
                          EventBus(), Metrics(), rig.reactor, run_blocking=lambda f, *a: defer.maybeDeferred(f, *a))
    result = outcome(c.reload("test"))
    assert result.status == "rolled_back"
    assert patches(rig.api) == [{"rtspAddress": "127.0.0.1:18559"}, {}, {"rtspAddress": "127.0.0.1:18554"}, {}]
    assert rig.process.settings["rtspAddress"] == "127.0.0.1:18554"
    assert len(rig.reactor.spawned) == 1


def test_the_child_exiting_is_told_before_its_restart(rig):
    rig.reactor.last().exit(1)
    assert len(rig.exited) == 1 and "MediaMTX exited (status 1" in rig.exited[0]
    rig.reactor.advance(rig.old.mediamtx.restart_max_delay + 1)
    assert len(rig.reactor.spawned) == 2 and rig.started == [1000.0, rig.started[1]]
    assert len(rig.exited) == 1
