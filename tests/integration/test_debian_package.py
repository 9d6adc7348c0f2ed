"""The Debian packages as an administrator gets them: built with
``dpkg-buildpackage -us -uc -b`` in a clean copy of the tree, installed
with ``apt-get install ./camservice*.deb``, run as the ``camservice`` user
on Debian's own Python and libraries (no virtualenv), checked by lintian,
then removed and purged.

It installs packages and a system user: it runs as root only, skips on a
machine that already has camservice installed, and always purges what it
installed and removes the user it caused, so the machine is left as found.
"""
from __future__ import annotations

import grp
import os
import pickle
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from helpers.installs import copy_tree, skip_reason
from helpers.processes import Child, free_port, mediamtx_ports, service_env_tool, wait_for_http
from helpers.wsclient import connect

PACKAGES = ("camservice", "camservice-mediamtx")
STATE = Path("/var/lib/camservice")
LOGS = Path("/var/log/camservice")
#: the unit's CacheDirectory=: the -OO bytecode of Debian's Python modules
CACHE = Path("/var/cache/camservice")
CONF = Path("/etc/camservice/camservice.yaml")
PLUGIN_CACHE = Path("/usr/lib/python3/dist-packages/twisted/plugins/dropin.cache")
UNIT = Path("/lib/systemd/system/camservice.service")
UNIT_LINK = Path("/etc/systemd/system/multi-user.target.wants/camservice.service")
#: a Debian PATH: no ~/.pyenv, /usr/local or venv ahead of Debian's programs
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": DEBIAN_PATH}


def _installed(package: str) -> bool:
    """Installed, or removed with its config files left."""
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return done.returncode == 0 and ("ok installed" in done.stdout or "config-files" in done.stdout)


def _why_skip() -> str | None:
    if skip_reason():
        return skip_reason()
    if os.geteuid() != 0:
        return "installs packages: root only"
    if any(_installed(p) for p in PACKAGES) or STATE.exists():
        return "camservice is or was installed on this machine: the test would purge it"
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or "")


async def _run(argv, cwd: Path, env=None, timeout: float = 120.0) -> tuple[int, str, str]:
    child = Child(reactor, argv, env=env, cwd=str(cwd))
    killer = reactor.callLater(timeout, child.signal, "KILL")
    code = await child.ended
    if killer.active():
        killer.cancel()
    return code, child.stdout, child.stderr


async def _ok(argv, cwd: Path, env=None, timeout: float = 120.0) -> str:
    code, out, err = await _run(argv, cwd, env, timeout)
    assert code == 0, f"{argv[0]} exited {code}:\n{out[-4000:]}\n{err[-4000:]}"
    return out


def _as_camservice(argv, **env: str) -> list[str]:
    """``argv`` as the camservice user with a system service's environment
    (``setpriv`` execs: the pid is the program's, signals reach it)."""
    settings = {"HOME": str(STATE), "PATH": DEBIAN_PATH, "LANG": "C.UTF-8", **env}
    return (["/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in settings.items()]
            + ["setpriv", "--reuid=camservice", "--regid=camservice", "--init-groups", "--"] + argv)


def _mode(path: Path) -> tuple[str, str, int]:
    st = path.stat()
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)


def _children_exe(pid: int) -> list[str]:
    """The executables of ``pid``'s children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(os.readlink(entry / "exe"))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _plugin_cached() -> bool:
    with PLUGIN_CACHE.open("rb") as f:
        return "camservice_plugin" in pickle.load(f)


async def _build(tmp_path: Path) -> dict[str, Path]:
    tree = copy_tree(tmp_path / "src")
    # HOME stays the caller's: debian/rules reuses ~/.cache/camservice's MediaMTX
    await _ok(["dpkg-buildpackage", "-us", "-uc", "-b"], tree,
              env={"PATH": DEBIAN_PATH, "DEB_BUILD_OPTIONS": "nocheck"}, timeout=600)
    debs = {p.name.split("_")[0]: p for p in tmp_path.glob("*.deb")}
    assert sorted(debs) == sorted(PACKAGES)
    assert debs["camservice"].name.endswith("_all.deb")
    return debs


@pytest_twisted.ensureDeferred
async def test_the_debs_build_install_serve_and_purge(tmp_path, clean_env):
    user_existed = _user_exists()
    debs = await _build(tmp_path)
    lint = Child(reactor, ["lintian", "--fail-on", "error", *map(str, debs.values())],
                 env={"PATH": DEBIAN_PATH}, cwd=str(tmp_path))
    try:
        await _ok(["apt-get", "install", "-y", "-q", *(f"./{p.name}" for p in debs.values())], tmp_path, APT_ENV)
        await _check_installed()
        await _check_service(tmp_path)

        # configuring again (an upgrade, a reinstall) keeps the secret and the user
        secret = (STATE / "jwt-secret").read_bytes()
        await _ok(["apt-get", "install", "--reinstall", "-y", "-q", *(f"./{p.name}" for p in debs.values())],
                  tmp_path, APT_ENV)
        assert (STATE / "jwt-secret").read_bytes() == secret
        await _check_installed()

        await _ok(["apt-get", "remove", "-y", "-q", *PACKAGES], tmp_path, APT_ENV)
        # remove keeps state, media and config; the plugin is forgotten
        assert (STATE / "jwt-secret").exists() and (STATE / "recordings").is_dir()
        assert (STATE / "snapshots").is_dir()
        assert CONF.exists()
        assert not _plugin_cached()

        # purge removes state, logs and config, and keeps recordings and snapshots made
        clip = STATE / "recordings" / "camera1000" / "clip.mp4"
        clip.parent.mkdir()
        clip.write_bytes(b"media")
        (STATE / "recordings" / "camera1001").mkdir()  # empty: goes
        (STATE / "snapshots" / "camera1000_door.jpg").write_bytes(b"jpeg")
        await _ok(["apt-get", "purge", "-y", "-q", *PACKAGES], tmp_path, APT_ENV)
        assert sorted(str(p.relative_to(STATE)) for p in STATE.rglob("*")) == [
            "recordings", "recordings/camera1000", "recordings/camera1000/clip.mp4",
            "snapshots", "snapshots/camera1000_door.jpg"]
        shutil.rmtree(STATE)
        for gone in (LOGS, CACHE, CONF.parent, UNIT_LINK):
            assert not os.path.lexists(gone), gone
        # the user stays (files may still belong to it), as policy advises
        assert _user_exists()
    finally:
        await _purge(tmp_path, user_existed)
        if not lint.ended.called:
            await lint.ended
    assert await lint.ended == 0, lint.stdout + lint.stderr
    assert not [line for line in lint.stdout.splitlines() if line.startswith("E:")]


def _user_exists() -> bool:
    try:
        pwd.getpwnam("camservice")
        return True
    except KeyError:
        return False


async def _check_installed():
    user = pwd.getpwnam("camservice")
    assert user.pw_dir == str(STATE) and user.pw_shell == "/usr/sbin/nologin"
    assert "camservice" in grp.getgrnam("video").gr_mem
    for folder in (STATE, STATE / "recordings", LOGS):
        assert _mode(folder) == ("camservice", "camservice", 0o750), folder
    assert _mode(STATE / "jwt-secret") == ("camservice", "camservice", 0o600)
    assert _mode(CONF) == ("root", "camservice", 0o640)
    assert "data_dir: /var/lib/camservice" in CONF.read_text()
    assert UNIT.exists()
    # -OO, and a cache the service user may write for its bytecode
    environment = service_env_tool.unit_environment(UNIT)
    assert environment["PYTHONOPTIMIZE"] == "2"
    assert environment["PYTHONPYCACHEPREFIX"] == str(CACHE / "python")
    settings = service_env_tool.unit_settings(UNIT)
    assert ("CacheDirectory", "camservice") in settings and ("CacheDirectoryMode", "0750") in settings
    assert os.access("/usr/lib/camservice/mediamtx", os.X_OK)
    assert Path("/usr/share/doc/camservice-mediamtx/examples/mediamtx.service").exists()
    # the broker ACL the MQTT docs point to, as shipped in conf/
    acl = Path("/usr/share/doc/camservice/examples/mosquitto-acl.example")
    assert acl.read_text() == (Path(__file__).resolve().parents[2] / "conf" / "mosquitto-acl.example").read_text()
    # the plugin next to Twisted's own, without a package __init__ of ours
    assert Path("/usr/lib/python3/dist-packages/twisted/plugins/camservice_plugin.py").exists()
    assert _plugin_cached()


async def _check_service(tmp_path: Path):
    port = free_port()
    env = {
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",  # never the machine's own cameras
        **{f"CAMSERVICE_MEDIAMTX__{k.upper()}": str(v) for k, v in mediamtx_ports().items()},
    }
    config = ["--config", str(CONF)]
    # the unit's environment, and its cache folder as systemd makes it
    CACHE.mkdir(mode=0o750, exist_ok=True)
    shutil.chown(CACHE, "camservice", "camservice")
    unit_env = service_env_tool.unit_environment(UNIT)
    service = Child(reactor, _as_camservice(
        ["/usr/bin/twistd3", "--nodaemon", "--pidfile=", "camservice", *config], **unit_env, **env), cwd="/")
    try:
        alive = await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", service)
        assert alive.code == 200
        # the web console and its vendored player ship in the package
        page = await wait_for_http(reactor, f"http://127.0.0.1:{port}/", service)
        assert page.code == 200 and b"/console/app.js" in await page.content()
        hls = await wait_for_http(reactor, f"http://127.0.0.1:{port}/console/vendor/hls.min.js", service)
        assert hls.code == 200 and len(await hls.content()) > 100_000
        pid = service.pid
        await _until_ready(f"http://127.0.0.1:{port}/health/ready", service)
        # Debian's MediaMTX, run as camservice from the packaged location
        assert "/usr/lib/camservice/mediamtx" in _children_exe(pid)
        assert _mode(STATE / "mediamtx" / "mediamtx.yml")[0] == "camservice"

        out = await _ok(_as_camservice(["camservice-admin", *config, "token", "--role", "viewer"], **env), tmp_path)
        client = await connect(reactor, f"ws://127.0.0.1:{port}/ws", port)
        assert (await client.call("authenticate", {"auth_token": out.split()[-1]}))["result"]["role"] == "viewer"
        (camera,) = (await client.call("get_camera_list"))["result"]["cameras"]
        assert camera["device"] == "camera1000"
        probe = await _ok(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
                           "stream=codec_name", "-of", "csv=p=0", camera["streams"]["rtsp"]], tmp_path, timeout=30)
        assert probe.strip() == "h264"

        exit_code = await service.stop()
        await client.closed
    finally:
        await service.stop()
    assert exit_code == 0, service.stdout[-4000:] + service.stderr[-4000:]
    assert "Traceback" not in service.stdout + service.stderr
    # postinst indexed the plugin: the camservice user need not (cannot) write the cache
    assert "Unable to write to plugin cache" not in service.stdout + service.stderr
    assert _children_exe(pid) == []
    # the service user wrote its -OO bytecode, of Debian's modules and its own
    packages = CACHE / "python" / "usr" / "lib" / "python3" / "dist-packages"
    for module in ("camservice/tap", "camservice/server/protocol", "twisted/internet/epollreactor"):
        folder, name = (packages / module).parent, (packages / module).name
        assert list(folder.glob(f"{name}.*.opt-2.pyc")), module


async def _until_ready(url: str, service: Child, timeout: float = 30.0) -> None:
    deadline = reactor.seconds() + timeout
    while (await wait_for_http(reactor, url, service)).code != 200:
        assert reactor.seconds() < deadline, "not ready in time"
        await task.deferLater(reactor, 0.2, lambda: None)


async def _purge(tmp_path: Path, user_existed: bool) -> None:
    """Whatever happened: no camservice package, and no user this test made."""
    installed = [p for p in PACKAGES if _installed(p)]
    if installed:
        await _run(["apt-get", "purge", "-y", "-q", *installed], tmp_path, APT_ENV)
    shutil.rmtree(STATE, ignore_errors=True)  # recordings kept by a purge; none before (see _why_skip)
    shutil.rmtree(CACHE, ignore_errors=True)
    if not user_existed and _user_exists():
        await _run(["deluser", "--system", "--quiet", "camservice"], tmp_path, APT_ENV)
    try:
        grp.getgrnam("camservice")
        if not user_existed:
            await _run(["delgroup", "--system", "--quiet", "camservice"], tmp_path, APT_ENV)
    except KeyError:
        pass
