"""Startup time and memory of ``twistd camservice``, and the footprint of a
service streaming 4 cameras (what the systemd unit's limits are sized from).

    .venv/bin/python tests/bench/startup.py [-n 5] [--python PY ...] [--installed] [--no-footprint]

1. *startup*: for each interpreter (default: this one and
   ``.venv-debian/bin/python``, i.e. the PyPI virtualenv and Debian 12's
   packaged Twisted/Autobahn/treq), ``-n`` runs of ``python -c <twistd>
   -n --pidfile= camservice --config FILE`` with one virtual camera and a
   fake ``NOTIFY_SOCKET`` (a datagram socket bound here): seconds from
   the spawn to READY=1, camservice's RSS then and 3 s later (settled);
   medians and extremes.
   With ``--installed`` (root only), the same runs of the installed
   ``.deb`` on Debian's packaged libraries: the packages are built as
   ``tests/integration/test_debian_package.py`` builds them
   (``dpkg-buildpackage -us -uc -b`` in a clean copy), installed with
   ``apt-get install ./camservice*.deb``, run as ``/usr/bin/twistd3`` by
   the ``camservice`` user (system ``python3``, no virtualenv; the
   packaged MediaMTX), then purged, leaving the machine as found. A
   machine that has or had camservice installed, or where apt or dpkg is
   busy, is not touched: the figure says why it is missing.
2. *footprint*: 4 virtual cameras (640x480 at 15 fps, FFmpeg's test
   pattern encoded with libx264), each started with ``start_streaming``
   (a keep-alive reader) and played by one FFmpeg viewer over RTSP, for
   ``--seconds`` (default 20): peak and last summed RSS and PSS of the
   whole tree (camservice, MediaMTX, the FFmpeg sources and readers; the
   viewers are not camservice's and not counted), peak threads (what
   ``TasksMax`` counts) and CPU of camservice alone versus its children.

Prints progress to stderr and one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import shutil
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402
from helpers.processes import TWISTD  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


class NotifySocket:
    """A bound datagram socket standing in for systemd's."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="sd-")
        self.path = os.path.join(self.folder, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def wait_ready(self, proc: subprocess.Popen, timeout: float = 60.0) -> float:
        """Blocks until READY=1; the monotonic time it arrived."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                if proc.poll() is not None:
                    raise RuntimeError(f"camservice exited with {proc.returncode} before READY=1")
                if time.monotonic() > deadline:
                    raise RuntimeError("no READY=1 in time")
                continue
            if b"READY=1" in data.split(b"\n"):
                return time.monotonic()

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.folder)


def start(service: h.Service, python: str, notify: NotifySocket) -> tuple[float, float]:
    """Spawn camservice under ``python``; (spawn time, READY time)."""
    h.raise_nofile()
    service.token = service.mint_token("viewer")  # the JWT secret exists before the clock starts
    env = dict(service.env, NOTIFY_SOCKET=notify.path)
    service.log = open(service.tmp / "service.log", "wb")
    t0 = time.monotonic()
    service.proc = h.spawn([python, "-c", TWISTD, "-n", "--pidfile=", "camservice", "--config", str(service.config)],
                           cwd=str(service.tmp), env=env, stdout=service.log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    return t0, notify.wait_ready(service.proc)


def bench_startup(python: str, runs: int) -> dict:
    startup, ready_rss, settled_rss = [], [], []
    for i in range(runs):
        notify = NotifySocket()
        service = h.Service(cameras=1, pin=False)
        try:
            t0, ready = start(service, python, notify)
            startup.append(round(ready - t0, 3))
            ready_rss.append(round(h.rss_mb(service.pid), 1))
            time.sleep(3)
            settled_rss.append(round(h.rss_mb(service.pid), 1))
        finally:
            service.stop()
            notify.close()
        log(f"{python}: run {i + 1}/{runs}: READY=1 after {startup[-1]} s, RSS {ready_rss[-1]} MB "
            f"-> {settled_rss[-1]} MB")
    return {
        "python": python,
        "startup_to_ready_s": {"median": statistics.median(startup), "min": min(startup), "max": max(startup)},
        "rss_at_ready_mb": statistics.median(ready_rss),
        "rss_settled_mb": statistics.median(settled_rss),
        "runs": runs,
    }


# -- the installed .deb ------------------------------------------------------------

PACKAGES = ("camservice", "camservice-mediamtx")
STATE = Path("/var/lib/camservice")
#: a Debian PATH: no ~/.pyenv, /usr/local or venv ahead of Debian's programs
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": DEBIAN_PATH}
#: what the installed camservice runs on (their Debian versions go in the figures)
DEBIAN_LIBRARIES = ("python3", "python3-twisted", "python3-autobahn", "python3-treq", "python3-jwt",
                    "python3-yaml", "python3-ujson")


def _dpkg_version(package: str) -> Optional[str]:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", package], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    status, _, version = done.stdout.rpartition(" ")
    return version if "ok installed" in status or "config-files" in status else None


def _busy_packaging() -> Optional[str]:
    """A running apt, dpkg or package build (someone else's), if any."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name in ("apt-get", "apt", "dpkg", "dpkg-buildpackage", "dpkg-deb"):
                return name
    return None


def _installed_skip_reason() -> Optional[str]:
    if os.geteuid() != 0:
        return "installing packages needs root"
    if any(_dpkg_version(p) for p in PACKAGES) or STATE.exists():
        return "camservice is or was installed on this machine: measuring would purge it"
    busy = _busy_packaging()
    if busy:
        return f"{busy} is running: packages are being built or installed by someone else"
    for tool in ("dpkg-buildpackage", "apt-get", "setpriv"):
        if not shutil.which(tool, path=DEBIAN_PATH):
            return f"{tool} is not installed"
    return None


def _user_exists(name: str = "camservice") -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _run_ok(argv, cwd, env, timeout: float) -> None:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {(done.stdout + done.stderr)[-3000:]}")


def _build_and_install(tmp: Path) -> list[Path]:
    from helpers.installs import copy_tree

    tree = copy_tree(tmp / "src")
    log("installed: building the .debs (dpkg-buildpackage -us -uc -b)")
    # HOME stays the caller's: debian/rules reuses ~/.cache/camservice's MediaMTX
    _run_ok(["dpkg-buildpackage", "-us", "-uc", "-b"], tree,
            dict(os.environ, PATH=DEBIAN_PATH, DEB_BUILD_OPTIONS="nocheck"), 900)
    debs = sorted(tmp.glob("*.deb"))
    if sorted(p.name.split("_")[0] for p in debs) != sorted(PACKAGES):
        raise RuntimeError(f"unexpected packages: {[p.name for p in debs]}")
    log("installed: apt-get install " + " ".join(f"./{p.name}" for p in debs))
    _run_ok(["apt-get", "install", "-y", "-q", *(f"./{p.name}" for p in debs)], tmp, APT_ENV, 600)
    return debs


def _purge(tmp: Path, user_existed: bool) -> None:
    installed = [p for p in PACKAGES if _dpkg_version(p)]
    if installed:
        subprocess.run(["apt-get", "purge", "-y", "-q", *installed], cwd=tmp, env=APT_ENV, capture_output=True,
                       timeout=600)
    shutil.rmtree(STATE, ignore_errors=True)
    if not user_existed and _user_exists():
        subprocess.run(["deluser", "--system", "--quiet", "camservice"], env=APT_ENV, capture_output=True)
    if not user_existed:
        import grp

        try:
            grp.getgrnam("camservice")
            subprocess.run(["delgroup", "--system", "--quiet", "camservice"], env=APT_ENV, capture_output=True)
        except KeyError:
            pass


def _start_installed(service: h.Service, notify: NotifySocket) -> tuple[float, float]:
    """Spawn the installed ``/usr/bin/twistd3`` as ``camservice`` on the
    same config as the virtualenv runs; (spawn time, READY time)."""
    import pwd

    h.raise_nofile()
    service.token = service.mint_token("viewer")  # the JWT secret exists before the clock starts
    user = pwd.getpwnam("camservice")
    for folder, _, files in os.walk(service.tmp):
        os.chown(folder, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), user.pw_uid, user.pw_gid)
    os.chmod(notify.folder, 0o755)
    os.chmod(notify.path, 0o666)  # the service user must be able to send to it
    settings = {"HOME": str(STATE), "PATH": DEBIAN_PATH, "LANG": "C.UTF-8", "NOTIFY_SOCKET": notify.path}
    argv = (["/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in settings.items()]
            + ["setpriv", "--reuid=camservice", "--regid=camservice", "--init-groups", "--",
               "/usr/bin/twistd3", "-n", "--pidfile=", "camservice", "--config", str(service.config)])
    service.log = open(service.tmp / "service.log", "wb")
    t0 = time.monotonic()
    # env and setpriv exec: the pid is twistd3's
    service.proc = h.spawn(argv, cwd="/", stdout=service.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return t0, notify.wait_ready(service.proc)


def bench_installed(runs: int) -> dict:
    """:func:`bench_startup`'s figures for the installed ``.deb``."""
    reason = _installed_skip_reason()
    if reason is not None:
        log(f"installed: not measured: {reason}")
        return {"installed_deb": None, "skipped": reason}
    tmp = Path(tempfile.mkdtemp(prefix="camservice-bench-deb-"))
    user_existed = _user_exists()
    try:
        _build_and_install(tmp)
        startup, ready_rss, settled_rss = [], [], []
        for i in range(runs):
            notify = NotifySocket()
            service = h.Service(cameras=1, pin=False)
            try:
                t0, ready = _start_installed(service, notify)
                startup.append(round(ready - t0, 3))
                ready_rss.append(round(h.rss_mb(service.pid), 1))
                time.sleep(3)
                settled_rss.append(round(h.rss_mb(service.pid), 1))
                exe = os.readlink(f"/proc/{service.pid}/exe")
            finally:
                service.stop()
                notify.close()
            log(f"installed: run {i + 1}/{runs}: READY=1 after {startup[-1]} s, RSS {ready_rss[-1]} MB "
                f"-> {settled_rss[-1]} MB")
        return {
            "python": exe + " (installed .deb, /usr/bin/twistd3 as camservice)",
            "debian_packages": {p: _dpkg_version(p) for p in DEBIAN_LIBRARIES + PACKAGES},
            "startup_to_ready_s": {"median": statistics.median(startup), "min": min(startup), "max": max(startup)},
            "rss_at_ready_mb": statistics.median(ready_rss),
            "rss_settled_mb": statistics.median(settled_rss),
            "runs": runs,
        }
    finally:
        _purge(tmp, user_existed)
        shutil.rmtree(tmp, ignore_errors=True)
        log("installed: packages purged")


async def _start_all(service: h.Service, cameras: list[str]) -> list[str]:
    client = await h.RpcClient.connect(h.HOST, service.port, token=service.mint_token("operator"))
    try:
        deadline = time.monotonic() + 60
        while True:
            reply = await client.call("get_stream_status", {"device": cameras[0]})
            if ((reply.get("result") or {}).get("mediamtx_path") or {}).get("exists"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("MediaMTX did not come up")
            await asyncio.sleep(0.2)
        urls = []
        for camera in cameras:
            started = await client.result("start_streaming", {"device": camera}, timeout=60)
            urls.append(started["stream_url"])
        return urls
    finally:
        await client.close()


def bench_footprint(seconds: float) -> dict:
    cameras = [f"camera{1000 + i}" for i in range(4)]
    notify = NotifySocket()
    service = h.Service(cameras=4, pin=False)
    viewers = []
    try:
        start(service, sys.executable, notify)
        urls = asyncio.run(_start_all(service, cameras))
        for url in urls:
            viewers.append(h.spawn(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-f", "null", "-"],
                                   stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        viewer_pids = {v.pid for v in viewers}
        peak = {"rss": 0.0, "pss": 0.0, "threads": 0, "processes": 0}
        last = {}
        cpu0 = {}
        t_start = time.monotonic()
        while time.monotonic() - t_start < seconds:
            tree = [service.pid] + [p for p in h.descendants(service.pid) if p not in viewer_pids]
            rss = sum(h.rss_mb(p) for p in tree if os.path.exists(f"/proc/{p}"))
            pss = sum(pss_mb(p) for p in tree)
            tasks = sum(threads(p) for p in tree)
            for p in tree:
                if p not in cpu0 and os.path.exists(f"/proc/{p}"):
                    cpu0[p] = h.cpu_seconds(p)
            last = {"rss": round(rss, 1), "pss": round(pss, 1), "threads": tasks, "processes": len(tree)}
            for key in peak:
                peak[key] = max(peak[key], last[key])
            time.sleep(0.5)
        elapsed = time.monotonic() - t_start
        tree = [service.pid] + [p for p in h.descendants(service.pid) if p not in viewer_pids]
        cpu = {p: h.cpu_seconds(p) - cpu0.get(p, 0.0) for p in tree if os.path.exists(f"/proc/{p}")}
        own = round(100 * cpu.pop(service.pid, 0.0) / elapsed, 1)
        children_cpu = round(100 * sum(cpu.values()) / elapsed, 1)
        result = {
            "cameras": len(cameras), "viewers": len(viewers), "seconds": round(elapsed, 1),
            "tree_rss_peak_mb": round(peak["rss"], 1), "tree_pss_peak_mb": round(peak["pss"], 1),
            "tree_rss_last_mb": last["rss"], "threads_peak": peak["threads"], "processes": last["processes"],
            "camservice_rss_mb": round(h.rss_mb(service.pid), 1),
            "camservice_cpu_percent": own, "children_cpu_percent": children_cpu,
        }
        log(f"footprint: {result}")
        return result
    finally:
        for v in viewers:
            h.stop_process(v)
        service.stop()
        notify.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=5, help="startup runs per interpreter (default 5)")
    ap.add_argument("--python", nargs="*", help="interpreters (default: this one and .venv-debian's)")
    ap.add_argument("--seconds", type=float, default=20.0, help="footprint sampling time (default 20)")
    ap.add_argument("--no-footprint", action="store_true", help="only the startup figures")
    ap.add_argument("--installed", action="store_true",
                    help="also build, install, measure and purge the .debs (root only)")
    args = ap.parse_args(argv)
    h.install_cleanup()
    pythons = [os.path.abspath(p) for p in args.python] if args.python else [sys.executable] + [
        str(p) for p in [ROOT / ".venv-debian" / "bin" / "python"] if p.exists() and str(p) != sys.executable]
    out: dict = {"bench": "startup", "startup": [bench_startup(p, args.n) for p in pythons]}
    if args.installed:
        out["startup_installed_deb"] = bench_installed(args.n)
    if not args.no_footprint:
        out["footprint_4_cameras"] = bench_footprint(args.seconds)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
