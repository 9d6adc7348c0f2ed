"""``camctl`` end to end: the installed console script of this
virtualenv, run as a subprocess against a real camservice with MediaMTX
and a virtual camera. Every subcommand, its ``--json`` parsed, and each
documented exit code provoked the way a user meets it."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_twisted
import yaml
from twisted.internet import protocol, reactor, task

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.roles import Role
from camservice.config import load_config
from helpers.certs import CertificateAuthority
from helpers.live import start_live
from helpers.processes import Child, free_port, media_ports, run

CAMCTL = str(Path(sys.executable).parent / "camctl")
CAMERA = "camera1000"
CA = CertificateAuthority()


def _document(data_dir: Path) -> dict:
    ports, auth_port = media_ports()
    return {
        "data_dir": str(data_dir),
        "server": {"port": 0, "shutdown_timeout": 5, "auto_ping_interval": 0, "max_connections_per_address": 1000},
        "logging": {"level": "warn", "format": "json"},
        "discovery": {"mode": "disabled"},
        "mediamtx": dict(ports, health_check_interval=0.5, restart_min_delay=0.5, log_level="warn"),
        "cameras": {"declared": [{"id": CAMERA, "kind": "virtual", "name": "Pattern", "resolution": "320x240", "fps": 10}]},
        "streams": {"auth_port": auth_port},
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the module (its tests leave it as they found it)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("CAMSERVICE_", "CAMCTL_")):
                patch.delenv(name)
        folder = tmp_path_factory.mktemp("camctl-service")
        path = folder / "camservice.yaml"
        path.write_text(yaml.safe_dump(_document(folder / "data")))
        live = start_live(load_config(path), reactor)
        try:
            pytest_twisted.blockon(live.wait_mediamtx_up())
            yield live
        finally:
            pytest_twisted.blockon(live.tree.stopService())


@pytest.fixture(scope="module")
def viewer_key(service):
    key, _entry = ApiKeyStore(service.config.auth.api_keys_file, reactor).add(Role.viewer, "camctl test")
    return key


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self):
        assert self.code == 0, self
        return json.loads(self.out)


def _env(service, role="admin", **extra) -> dict:
    env = {"CAMCTL_URL": service.url, "CAMCTL_TOKEN": service.token(role) if role else ""}
    env.update(extra)
    return env


async def camctl(service, *argv, role="admin", env=None, cwd=None) -> Ran:
    environment = _env(service, role)
    environment.update(env or {})
    child = Child(reactor, [CAMCTL, *argv], env=environment, cwd=cwd)
    killer = reactor.callLater(60, child.signal, "KILL")
    code = await child.ended
    if killer.active():
        killer.cancel()
    return Ran(code, child.stdout, child.stderr)


async def _sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def _wait_for(child: Child, text: str, timeout: float = 20.0) -> None:
    deadline = reactor.seconds() + timeout
    while text not in child.stderr:
        assert not child.ended.called, f"ended early:\n{child.stdout}\n{child.stderr}"
        assert reactor.seconds() < deadline, f"no {text!r} after {timeout} s:\n{child.stderr}"
        await _sleep(0.05)


@pytest_twisted.ensureDeferred
async def test_help_of_camctl_and_of_every_subcommand(service):
    top = await camctl(service, "--help")
    assert top.code == 0
    assert "exit codes:" in top.out and "CAMCTL_TOKEN" in top.out
    commands = ["cameras", "status", "snapshot", "record", "stop", "files", "download", "delete", "watch",
                "stream-url", "sessions", "completion", "fleet"]
    for name in commands:
        assert name in top.out
        ran = await camctl(service, name, "--help")
        assert ran.code == 0, ran
        assert ran.out.startswith(f"usage: camctl {name}")
    version = await camctl(service, "--version")
    assert version.code == 0 and "camctl" in version.out


@pytest_twisted.ensureDeferred
async def test_cameras_as_json_and_as_a_table(service):
    listed = (await camctl(service, "cameras", "--json")).json()
    assert listed["total"] == 1 and listed["connected"] == 1
    (camera,) = listed["cameras"]
    assert camera["device"] == CAMERA and camera["status"] == "CONNECTED" and camera["resolution"] == "320x240"
    # options before the subcommand too, and the flags instead of the environment
    flags = await camctl(service, "--json", "--url", service.url, "--token", service.token("viewer"), "cameras",
                         env={"CAMCTL_URL": "ws://127.0.0.1:9/ws", "CAMCTL_TOKEN": "bad"})
    assert flags.json() == listed
    table = await camctl(service, "cameras", role="viewer")
    assert table.code == 0
    header, row = table.out.splitlines()[:2]
    assert header.split() == ["CAMERA", "STATUS", "NAME", "RESOLUTION", "FPS"]
    assert row.split() == [CAMERA, "CONNECTED", "Pattern", "320x240", "10"]
    # the columns line up
    assert header.index("STATUS") == row.index("CONNECTED")


@pytest_twisted.ensureDeferred
async def test_status_of_a_camera_and_of_the_service(service):
    camera = (await camctl(service, "status", CAMERA, "--json", role="viewer")).json()
    assert camera["device"] == CAMERA and camera["status"] == "CONNECTED"
    assert set(camera["metrics"]) >= {"bytes_sent", "readers", "uptime"}
    system = (await camctl(service, "status", "--json", role="viewer")).json()
    assert system["available_cameras"] == [CAMERA]
    assert system["status"] in ("ready", "partial", "starting")
    table = await camctl(service, "status", CAMERA, role="viewer")
    assert table.code == 0
    assert "status:" in table.out and "CONNECTED" in table.out and "rtsp:" in table.out


@pytest_twisted.ensureDeferred
async def test_stream_url(service):
    urls = (await camctl(service, "stream-url", CAMERA, "--json", role="viewer")).json()
    assert urls["device"] == CAMERA and urls["stream_status"] in ("READY", "NOT_READY")
    assert urls["streams"]["rtsp"].startswith("rtsp://127.0.0.1:") and f"/{CAMERA}" in urls["streams"]["rtsp"]
    only = await camctl(service, "stream-url", CAMERA, "--protocol", "hls", role="viewer")
    assert only.code == 0
    assert only.out.strip() == urls["streams"]["hls"]
    table = await camctl(service, "stream-url", CAMERA, role="viewer")
    assert [line.split()[0] for line in table.out.splitlines()] == ["PROTOCOL", "rtsp", "hls", "webrtc"]


@pytest_twisted.ensureDeferred
async def test_snapshot_is_downloaded_listed_downloaded_again_and_deleted(service, tmp_path):
    taken = (await camctl(service, "snapshot", CAMERA, "-o", str(tmp_path / "shot.jpg"), "--json",
                          role="operator")).json()
    assert taken["status"] == "SUCCESS" and taken["device"] == CAMERA
    saved = Path(taken["saved_to"])
    assert saved == tmp_path / "shot.jpg"
    data = saved.read_bytes()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    assert len(data) == taken["file_size"]
    assert not (tmp_path / "shot.jpg.part").exists()
    # without -o: the snapshot's own name in the working folder; a name of our own
    named = await camctl(service, "snapshot", CAMERA, "--name", "front-door", role="operator", cwd=str(tmp_path))
    assert named.code == 0, named
    assert (tmp_path / "front-door.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert "front-door.jpg" in named.out

    listed = (await camctl(service, "files", "snapshots", "--json", role="viewer")).json()
    names = [f["filename"] for f in listed["files"]]
    assert taken["filename"] in names and "front-door.jpg" in names
    both = (await camctl(service, "files", "--json", role="viewer")).json()
    assert set(both) == {"recordings", "snapshots"}
    assert [f["filename"] for f in both["snapshots"]["files"]] == names
    table = await camctl(service, "files", role="viewer")
    assert table.out.splitlines()[0].split() == ["KIND", "NAME", "SIZE", "MODIFIED"]
    assert any(line.split()[:2] == ["snapshot", "front-door.jpg"] for line in table.out.splitlines())

    again = (await camctl(service, "download", taken["filename"], "-o", str(tmp_path / "again.jpg"), "--json",
                          role="viewer")).json()
    assert again["kind"] == "snapshots" and again["resumed_from"] == 0
    assert (tmp_path / "again.jpg").read_bytes() == data
    # the file exists now: not replaced without --force
    exists = await camctl(service, "download", taken["filename"], "-o", str(tmp_path / "again.jpg"), role="viewer")
    assert exists.code == 1 and "--force" in exists.err

    # a viewer may not delete (4); an admin may; then it is gone (5)
    assert (await camctl(service, "delete", "front-door.jpg", role="viewer")).code == 4
    deleted = (await camctl(service, "delete", "front-door.jpg", "--json")).json()
    assert deleted["deleted"] is True
    assert (await camctl(service, "delete", "front-door.jpg")).code == 5
    gone = await camctl(service, "download", "front-door.jpg", "-o", str(tmp_path / "gone.jpg"), role="viewer")
    assert gone.code == 5 and "404" in gone.err
    assert not (tmp_path / "gone.jpg").exists()
    assert (await camctl(service, "delete", taken["filename"])).code == 0


@pytest_twisted.ensureDeferred
async def test_record_stop_and_a_resumed_download(service, tmp_path):
    started = (await camctl(service, "record", CAMERA, "--format", "mp4", "--duration", "60", "--json",
                            role="operator")).json()
    assert started["status"] == "RECORDING" and started["format"] == "mp4"
    try:
        # a second start: invalid state (6), the API's -32020 on stderr as JSON
        twice = await camctl(service, "record", CAMERA, "--json", role="operator")
        assert twice.code == 6, twice
        assert twice.out == ""
        error = json.loads(twice.err)["error"]
        assert error["code"] == -32020 and error["data"]["state"] == "recording" and error["exit_code"] == 6
        await _sleep(3.0)
    finally:
        stopped = (await camctl(service, "stop", CAMERA, "--json", role="operator")).json()
    assert stopped["status"] == "STOPPED" and stopped["filename"] == started["filename"]
    assert stopped["file_size"] > 0
    # not recording now: invalid state
    not_recording = await camctl(service, "stop", CAMERA, role="operator")
    assert not_recording.code == 6 and "not recording" in not_recording.err

    name = started["filename"]
    listed = (await camctl(service, "files", "recordings", "--all", "--json", role="viewer")).json()
    assert name in [f["filename"] for f in listed["files"]]

    whole = (await camctl(service, "download", name, "-o", str(tmp_path / "whole.mp4"), "--json",
                          role="viewer")).json()
    data = (tmp_path / "whole.mp4").read_bytes()
    assert whole["bytes"] == len(data) == stopped["file_size"]

    # an interrupted download left the first part: resumed with Range
    half = len(data) // 2
    (tmp_path / "resumed.mp4.part").write_bytes(data[:half])
    resumed = (await camctl(service, "download", name, "-o", str(tmp_path / "resumed.mp4"), "--json",
                            role="viewer")).json()
    assert resumed["resumed_from"] == half and resumed["bytes"] == len(data)
    assert (tmp_path / "resumed.mp4").read_bytes() == data
    assert not (tmp_path / "resumed.mp4.part").exists()
    # a part that is already whole (the server answers 416): just renamed
    (tmp_path / "complete.mp4.part").write_bytes(data)
    complete = (await camctl(service, "download", name, "-o", str(tmp_path / "complete.mp4"), "--json",
                             role="viewer")).json()
    assert complete["resumed_from"] == len(data)
    assert (tmp_path / "complete.mp4").read_bytes() == data
    # a part longer than the file cannot be its start: downloaded afresh
    (tmp_path / "longer.mp4.part").write_bytes(data + b"junk")
    (await camctl(service, "download", name, "-o", str(tmp_path / "longer.mp4"), "--json", role="viewer")).json()
    assert (tmp_path / "longer.mp4").read_bytes() == data

    assert (await camctl(service, "delete", name, "--json")).json()["deleted"] is True


@pytest_twisted.ensureDeferred
async def test_exit_codes(service, tmp_path):
    # 4: a bad token, no token, a viewer recording, a viewer listing sessions
    bad = await camctl(service, "cameras", env={"CAMCTL_TOKEN": "not-a-valid-token-" + "x" * 20})
    assert bad.code == 4 and "Authentication failed" in bad.err
    assert (await camctl(service, "cameras", role=None)).code == 4
    viewer = await camctl(service, "record", CAMERA, role="viewer")
    assert viewer.code == 4 and "Permission denied" in viewer.err
    assert (await camctl(service, "sessions", role="viewer")).code == 4
    # 5: an unknown camera
    unknown = await camctl(service, "status", "camera999", "--json", role="viewer")
    assert unknown.code == 5 and json.loads(unknown.err)["error"]["code"] == -32010
    assert (await camctl(service, "snapshot", "camera999", "-o", str(tmp_path / "x.jpg"), role="operator")).code == 5
    # 6: stop without a recording
    assert (await camctl(service, "stop", CAMERA, role="operator")).code == 6
    # 3: nothing listens there
    closed = await camctl(service, "cameras", env={"CAMCTL_URL": f"ws://127.0.0.1:{free_port()}/ws"})
    assert closed.code == 3 and "cannot connect" in closed.err
    # 2: the command line, here and at the server (-32602: a name may not start with a dot)
    assert (await camctl(service, "record", CAMERA, "--duration", "0")).code == 2
    assert (await camctl(service, "status", "cam1")).code == 2
    assert (await camctl(service, "cameras", env={"CAMCTL_URL": "http://127.0.0.1:1/ws"})).code == 2
    refused = await camctl(service, "snapshot", CAMERA, "--name", ".hidden", "-o", str(tmp_path / "h.jpg"),
                           role="operator")
    assert refused.code == 2 and "Invalid params" in refused.err


class _Silent(protocol.Protocol):
    """Accepts the connection and never answers."""


@pytest_twisted.ensureDeferred
async def test_a_server_that_never_answers_times_out_or_is_interrupted(service):
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(_Silent), interface="127.0.0.1")
    try:
        env = {"CAMCTL_URL": f"ws://127.0.0.1:{port.getHost().port}/ws"}
        timed_out = await camctl(service, "cameras", "--timeout", "1", env=env)
        assert timed_out.code == 3 and "no answer within 1 s" in timed_out.err
        # Ctrl-C while it waits: 130 (watch alone ends with 0)
        waiting = Child(reactor, [CAMCTL, "cameras", "--timeout", "60"], env=_env(service, **env))
        await _sleep(1.5)
        waiting.signal("INT")
        assert await waiting.ended == 130, waiting.stderr
        assert "interrupted" in waiting.stderr
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_an_api_key_from_the_environment(service, viewer_key, tmp_path):
    env = {"CAMCTL_TOKEN": "", "CAMCTL_API_KEY": viewer_key}
    listed = (await camctl(service, "cameras", "--json", role=None, env=env)).json()
    assert listed["total"] == 1
    # downloads send it as X-API-Key
    snap = (await camctl(service, "snapshot", CAMERA, "--json", "-o", str(tmp_path / "k.jpg"), role="operator")).json()
    got = (await camctl(service, "download", snap["filename"], "-o", str(tmp_path / "key.jpg"), "--json",
                        role=None, env=env)).json()
    assert (tmp_path / "key.jpg").read_bytes() == (tmp_path / "k.jpg").read_bytes() and got["bytes"] > 0
    # a viewer's key may not take snapshots
    assert (await camctl(service, "snapshot", CAMERA, role=None, env=env)).code == 4
    both = await camctl(service, "cameras", role="viewer", env={"CAMCTL_API_KEY": viewer_key})
    assert both.code == 2 and "not both" in both.err
    assert (await camctl(service, "delete", snap["filename"])).code == 0


@pytest_twisted.ensureDeferred
async def test_watch_prints_events_until_count_and_stops_on_ctrl_c(service, tmp_path):
    env = _env(service, "viewer")
    watcher = Child(reactor, [CAMCTL, "watch", "snapshot.taken", "--camera", CAMERA, "--count", "1", "--json"], env=env)
    plain = Child(reactor, [CAMCTL, "watch"], env=env)
    try:
        await _wait_for(watcher, "# watching snapshot.taken about camera1000")
        await _wait_for(plain, "# watching camera.connected")
        snap = (await camctl(service, "snapshot", CAMERA, "-o", str(tmp_path / "w.jpg"), "--json",
                             role="operator")).json()
        assert await watcher.ended == 0, watcher.stderr
        (line,) = watcher.stdout.splitlines()
        event = json.loads(line)
        assert event["method"] == "event"
        assert event["params"]["topic"] == "snapshot.taken" and event["params"]["filename"] == snap["filename"]
        # the one-line form of the same event, then Ctrl-C ends it with 0
        deadline = reactor.seconds() + 10
        while snap["filename"] not in plain.stdout:
            assert reactor.seconds() < deadline, plain.stdout
            await _sleep(0.05)
        words = [l for l in plain.stdout.splitlines() if snap["filename"] in l][0].split()
        assert words[1:3] == ["snapshot.taken", CAMERA] and f"filename={snap['filename']}" in words
        plain.signal("INT")
        assert await plain.ended == 0, plain.stderr
    finally:
        await watcher.stop()
        await plain.stop()
    assert (await camctl(service, "delete", snap["filename"])).code == 0


@pytest_twisted.ensureDeferred
async def test_watch_into_a_pipe_ends_quietly_when_the_reader_leaves(service, tmp_path):
    piped = Child(reactor, ["bash", "-c", f'{CAMCTL} watch snapshot.taken | head -n 1; echo "rc=${{PIPESTATUS[0]}}"'],
                  env=_env(service, "viewer"))
    try:
        await _wait_for(piped, "# watching")
        names = []
        for n in range(2):  # head takes the first; writing the second finds the pipe closed
            snap = (await camctl(service, "snapshot", CAMERA, "-o", str(tmp_path / f"{n}.jpg"), "--json",
                                 role="operator")).json()
            names.append(snap["filename"])
        assert await piped.ended == 0
        first, status = piped.stdout.splitlines()
        assert names[0] in first and status == "rc=0"
        assert "Traceback" not in piped.stderr and "Broken pipe" not in piped.stderr
    finally:
        await piped.stop()
    for name in names:
        assert (await camctl(service, "delete", name)).code == 0


@pytest_twisted.ensureDeferred
async def test_sessions_and_a_watch_ended_by_an_admin(service):
    watcher = Child(reactor, [CAMCTL, "watch", "system.health"], env=_env(service, "viewer"))
    try:
        await _wait_for(watcher, "# watching")
        listed = (await camctl(service, "sessions", "--json")).json()
        current = [s for s in listed["sessions"] if s["current"]]
        assert len(current) == 1 and current[0]["role"] == "admin"
        viewers = [s for s in listed["sessions"] if s["role"] == "viewer"]
        assert len(viewers) == 1
        table = await camctl(service, "sessions")
        assert table.out.splitlines()[0].split()[:3] == ["SESSION", "PEER", "TLS"]
        client = await service.authed_client("admin")
        ended = await client.call("terminate_session", {"session_id": viewers[0]["session_id"]})
        assert ended["result"]["terminated"] is True
        await client.close()
        # the server ended the watch's session: exit 4, with the reason
        assert await watcher.ended == 4
        assert "4004" in watcher.stderr
    finally:
        await watcher.stop()


@pytest_twisted.ensureDeferred
async def test_bash_completion_is_printed_and_completes_from_the_server(service, tmp_path):
    printed = await camctl(service, "completion", "bash")
    assert printed.code == 0 and "complete -F _camctl camctl" in printed.out
    script = tmp_path / "camctl.bash"
    script.write_text(printed.out)
    probe = (f'source {script}; COMP_WORDS=(camctl status ""); COMP_CWORD=2; _camctl; echo "${{COMPREPLY[*]}}"; '
             f'COMP_WORDS=(camctl f); COMP_CWORD=1; _camctl; echo "${{COMPREPLY[*]}}"')
    env = dict(_env(service, "viewer"), PATH=f"{Path(CAMCTL).parent}:{os.environ.get('PATH', '')}")
    code, out, err = await run(reactor, ["bash", "-c", probe], env=env)
    assert code == 0, err
    assert out.splitlines() == [CAMERA, "files fleet"]


@pytest.fixture
def service_settings(tmp_path):
    cert, key = CA.server().write(tmp_path, "server")
    ca = tmp_path / "clients-ca.pem"
    ca.write_bytes(CA.cert_pem)
    return {"server": {"tls": {
        "certificate": str(cert), "private_key": str(key), "client_certificates": "optional", "client_ca": str(ca),
        "client_identities": [{"name": "kiosk.cameras.test", "role": "viewer"}],
    }}}


@pytest_twisted.ensureDeferred
async def test_wss_https_and_a_client_certificate(live, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(CA.cert_pem)
    assert live.url.startswith("wss://127.0.0.1:")
    env = {"CAMCTL_URL": live.url, "CAMCTL_TOKEN": live.token("operator")}
    listed = (await camctl(live, "cameras", "--json", "--ca-file", str(ca), env=env)).json()
    assert listed["cameras"][0]["device"] == CAMERA
    # the snapshot's JPEG comes over https:// with the same trust (from the environment this time)
    snap = (await camctl(live, "snapshot", CAMERA, "-o", str(tmp_path / "tls.jpg"), "--json",
                         env=dict(env, CAMCTL_CA_FILE=str(ca)))).json()
    assert (tmp_path / "tls.jpg").read_bytes()[:2] == b"\xff\xd8" and snap["file_size"] > 0
    # without the CA, or trusting another one: the certificate is refused (3)
    untrusted = await camctl(live, "cameras", env=env)
    assert untrusted.code == 3 and "TLS" in untrusted.err
    other = tmp_path / "other.pem"
    other.write_bytes(CertificateAuthority("someone else").cert_pem)
    assert (await camctl(live, "cameras", "--ca-file", str(other), env=env)).code == 3
    # plain ws:// to the TLS port
    plain = await camctl(live, "cameras", env=dict(env, CAMCTL_URL=live.url.replace("wss:", "ws:")))
    assert plain.code == 3
    # a client certificate mapped to a role: no token needed, and that role's limits
    cert, key = CA.issue("kiosk", ("kiosk.cameras.test",), client=True).write(tmp_path, "kiosk")
    by_cert = dict(env, CAMCTL_TOKEN="", CAMCTL_CA_FILE=str(ca))
    listed = (await camctl(live, "cameras", "--json", "--cert", str(cert), "--key", str(key), env=by_cert)).json()
    assert listed["total"] == 1
    assert (await camctl(live, "record", CAMERA, "--cert", str(cert), "--key", str(key), env=by_cert)).code == 4
    (tmp_path / "kiosk-both.pem").write_bytes(cert.read_bytes() + key.read_bytes())
    both = dict(by_cert, CAMCTL_CERT=str(tmp_path / "kiosk-both.pem"))
    assert (await camctl(live, "status", CAMERA, "--json", env=both)).json()["device"] == CAMERA
    # without it, no token: not authenticated
    assert (await camctl(live, "cameras", env=by_cert)).code == 4


@pytest_twisted.ensureDeferred
async def test_unsupported_and_dependency_failures(tmp_path):
    """7: a protocol the server does not offer; 8: MediaMTX unreachable
    (an external MediaMTX that is not running), each as a user meets it."""
    from camservice.mediamtx.controller import Health

    document = _document(tmp_path / "data")
    password = tmp_path / "api-password"
    password.write_text("an-operator-chosen-password-0123\n")
    document["mediamtx"].update(mode="external", protocols=["rtsp", "hls"], api_password_file=str(password))
    path = tmp_path / "camservice.yaml"
    path.write_text(yaml.safe_dump(document))
    live = start_live(load_config(path), reactor)
    try:
        controller = live.tree.getServiceNamed("mediamtx")
        for _ in range(200):
            if controller.health is Health.DOWN:
                break
            await _sleep(0.05)
        assert controller.health is Health.DOWN
        webrtc = await camctl(live, "stream-url", CAMERA, "--protocol", "webrtc", role="viewer")
        assert webrtc.code == 7, webrtc
        assert "no webrtc URL" in webrtc.err
        hls = await camctl(live, "stream-url", CAMERA, "--protocol", "hls", role="viewer")
        assert hls.code == 0 and hls.out.startswith("http://127.0.0.1:"), hls
        down = await camctl(live, "snapshot", CAMERA, "-o", str(tmp_path / "x.jpg"), role="operator")
        assert down.code == 8, down
        assert "MediaMTX" in down.err and not (tmp_path / "x.jpg").exists()
        as_json = await camctl(live, "record", CAMERA, "--json", role="operator")
        assert as_json.code == 8, as_json
        assert json.loads(as_json.err)["error"]["code"] == -32050
    finally:
        await live.tree.stopService()
