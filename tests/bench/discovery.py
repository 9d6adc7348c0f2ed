"""USB camera discovery: plug -> ``camera_status_update`` at a client, in
udev and poll modes, and the CPU of an idle service that knows 16 webcams.

    .venv/bin/python tests/bench/discovery.py [--cycles 200] [--poll-cycles 30] [--idle 60]

Runs under umockdev's preload (re-execs itself under ``umockdev-wrapper``
when ``LD_PRELOAD`` lacks it). A umockdev testbed is made in this process
*before* each service starts, and its folder is passed to the service as
``UMOCKDEV_DIR`` (the testbed sets that variable with ``setenv``, which
Python's ``os.environ`` does not see, so a child given an explicit
environment would otherwise not see the testbed). Webcams are plugged and
unplugged with real uevents, as in tests/integration/test_discovery.py: a
capture node ``/dev/videoN`` and a metadata node ``/dev/videoN+1`` under one
USB parent (the devices of ``Bed.add_webcam``).

The service is ``twistd -n camservice`` with a temp config (tests/bench/
_harness.py ``Service``): logging at warn, a managed MediaMTX on free
loopback ports, no declared camera, and a ``discovery`` section per run.
It is not pinned to a CPU (its children, the v4l2-ctl runs and MediaMTX,
would share its core).

*The udev database.* camservice uses the udev monitor only when a udev
daemon keeps a database (``/run/udev`` exists); otherwise ``udev`` and
``hybrid`` fall back to polling every ``poll_interval`` with a warning.
Containers have no ``/run/udev`` (umockdev does not fake it). Then the
service is started inside a private mount namespace (``unshare --mount``)
with an empty tmpfs on ``/run`` holding an empty ``/run/udev``, as on a
host with udev; nothing outside that namespace changes. If that is not
possible (not root) the udev figures are those of the fallback and the
JSON says so (``mode_in_use``, ``warnings``). The mode in use is also
checked from the service's log (its fallback warning).

*v4l2-ctl.* The Python replayer of the tests (tests/helpers/
fake_v4l2_ctl.py) costs ~30 ms a call, far more than the real v4l2-ctl
(a small C program, ~2 ms), and would dominate the latency. This benchmark
writes a POSIX shell replayer into its temp folder and sets
``discovery.v4l2_ctl`` to it: it appends its arguments to a log (a shell
builtin) and ``exec``s ``cat`` of tests/data/v4l2/uvc_c920_all.txt for
``--all`` or uvc_c920_formats.txt for ``--list-formats-ext`` (uvc_metadata_*
for odd node numbers, the metadata nodes, should one be probed; udev marks
them non-capture, so they are not). Its own cost per call is measured
(``replayer``) with the umockdev preload, as the service runs it, and
without.

1. ``udev``: ``discovery: {mode: udev, debounce: 0}``. ``--cycles`` (200)
   plug/unplug cycles of one webcam after 5 unmeasured ones. Plug: from just
   before the capture node is added to the testbed (umockdev's
   ``add_device`` makes the sysfs entries and emits the ``add`` uevent, as
   the kernel does) to the CONNECTED notification for ``camera0`` at an
   authenticated WebSocket client. Unplug: from just before the ``remove``
   uevent to DISCONNECTED. 50 ms pause before each change, so that the
   background work the previous one started (the MediaMTX path) is not
   charged to it. p50/p90/p99/max/mean in ms, each also split at the
   moment a bare pyudev monitor had the uevent (``to_uevent``: the
   testbed's part; ``uevent_to_notification``: camservice's part, the
   probe included). See ``Run`` for how the times are taken.
2. ``poll``: ``discovery: {mode: poll, debounce: 0}`` at the default
   ``poll_interval`` (2 s). ``--poll-cycles`` (30) cycles (the service
   has no udev monitor in this mode; the unplug sends no uevent);
   before each plug and each unplug a random pause of 0 to one interval,
   so the change lands at a random phase of the scan timer (back to back it
   would land just after a scan every time and always wait a full
   interval). Expected: mean ~ interval/2, max <= interval + the probe.
3. ``idle_16``: ``discovery: {mode: hybrid}`` (default
   ``safety_poll_interval`` 30 s, debounce 0.5 s): 16 webcams plugged one
   after the other (umockdev aborts on a burst of more than 10 uevents
   queued at a listener), all CONNECTED, MediaMTX has their 16 paths,
   nothing streaming, the clients connected; after a 5 s settle, CPU over
   ``--idle`` seconds (60) from /proc/PID/stat utime+stime, as % of one
   core, for the service and, separately, MediaMTX (its child); their RSS
   at the end.

Budgets (DESIGN.md): plug -> notification p99 < 50 ms; idle CPU < 1%.

Every process started (the service and its descendants) is stopped at the
end, also on an error. Prints progress to stderr and one JSON object as the
last line of stdout: ``{"bench": "discovery", "replayer": {...}, "udev":
{...}, "poll": {...}, "idle_16": {...}}``. Takes about 3.5 minutes.
"""
from __future__ import annotations

import os
import sys

if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
    # before anything else: the preload must be there from the process start
    os.execvp("umockdev-wrapper", ["umockdev-wrapper", sys.executable, os.path.abspath(__file__), *sys.argv[1:]])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _harness as h  # noqa: E402
from helpers.udevbed import Bed  # noqa: E402

DATA = h.ROOT / "tests" / "data" / "v4l2"
PLUG_P99_BUDGET_MS = 50.0
IDLE_CPU_BUDGET_PCT = 1.0
FALLBACK_WARNING = "polling for cameras instead"
UDEV_SETTLE_S = 0.05
WARMUP_CYCLES = 5

REPLAYER = """#!/bin/sh
# v4l2-ctl replaying a UVC C920 recording (tests/bench/discovery.py)
echo "$*" >> '{log}'
dev=
for a in "$@"; do
  case $a in
    --device=*) dev=${{a#--device=}} ;;
    --set-ctrl=*) exit 0 ;;
  esac
done
case $dev in
  *[13579]) rec=uvc_metadata ;;
  *) rec=uvc_c920 ;;
esac
case "$*" in
  *--list-formats-ext*) exec /bin/cat '{data}'/"$rec"_formats.txt ;;
  *) exec /bin/cat '{data}'/"$rec"_all.txt ;;
esac
"""


def log(msg: str) -> None:
    sys.stderr.write(f"[discovery] {msg}\n")
    sys.stderr.flush()


def ms(v: Optional[float]) -> Optional[float]:
    return None if v is None else round(v * 1000.0, 3)


def summary(values: list) -> dict:
    """Figures of latencies in seconds, in ms."""
    s = sorted(values)
    if not s:
        return {"n": 0}
    return {"n": len(s), "p50_ms": ms(h.percentile(s, 50)), "p90_ms": ms(h.percentile(s, 90)),
            "p99_ms": ms(h.percentile(s, 99)), "max_ms": ms(s[-1]), "min_ms": ms(s[0]),
            "mean_ms": ms(statistics.fmean(s))}


# --------------------------------------------------------------------------
# the replayer


def write_replayer(folder: Path) -> tuple[Path, Path]:
    exe = folder / "v4l2-ctl"
    calls = folder / "v4l2-calls.log"
    exe.write_text(REPLAYER.format(log=calls, data=DATA))
    exe.chmod(0o755)
    calls.touch()
    return exe, calls


def replayer_cost(exe: Path, umockdev_dir: str, n: int = 100) -> dict:
    """ms per call, from fork to exit with the output read, as the service
    runs it (environment: PATH, LD_PRELOAD, UMOCKDEV_DIR) and without the
    preload; also checks that each output is the recording."""
    expected = {"--all": (DATA / "uvc_c920_all.txt").read_bytes(),
                "--list-formats-ext": (DATA / "uvc_c920_formats.txt").read_bytes()}
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    envs = {
        "with_umockdev_preload": dict(base, LD_PRELOAD=os.environ["LD_PRELOAD"], UMOCKDEV_DIR=umockdev_dir),
        "without_preload": base,
    }
    out: dict = {"kind": "posix-sh (dash) + exec cat of tests/data/v4l2/uvc_c920_{all,formats}.txt",
                 "path": str(exe), "calls_per_probe": 2, "probe_runs_them": "in parallel"}
    for name, env in envs.items():
        per_arg = {}
        for arg, want in expected.items():
            times = []
            for _ in range(n):
                t0 = time.monotonic()
                r = subprocess.run([str(exe), "--device=/dev/video0", arg], env=env, capture_output=True)
                times.append(time.monotonic() - t0)
                if r.returncode != 0 or r.stdout != want:
                    raise RuntimeError(f"replayer output wrong for {arg}: rc {r.returncode} {r.stderr[:200]!r}")
            s = sorted(times)
            per_arg[arg] = {"p50_ms": ms(h.percentile(s, 50)), "p99_ms": ms(h.percentile(s, 99)),
                            "mean_ms": ms(statistics.fmean(s))}
        out[name] = per_arg
    return out


# --------------------------------------------------------------------------
# the udev database (see the module docstring)


def udev_wrapper(tmp: Path) -> tuple[Optional[list], str]:
    """The command the service runs under so that it finds a udev
    database, and a word on how."""
    if os.path.isdir("/run/udev"):
        return None, "host /run/udev"
    script = ('mount -n -t tmpfs -o mode=0755,size=1m camservice-bench /run && mkdir /run/udev '
              '&& ln -s /dev/shm /run/shm && exec "$@"')
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    try:
        probe = subprocess.run(wrapper + ["test", "-d", "/run/udev"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"none: cannot make a mount namespace ({e})"
    if probe.returncode != 0:
        return None, f"none: cannot make a mount namespace ({probe.stderr.strip()[:200]})"
    return wrapper, "private mount namespace: tmpfs /run with an empty /run/udev"


# --------------------------------------------------------------------------
# the service


LISTENER = r"""
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
import _harness as h

async def main(port, token):
    client = await h.RpcClient.connect(h.HOST, port, token=token)
    rpc_on_text = client.ws.on_text
    out = sys.stdout

    def on_text(payload):
        t = time.monotonic()
        rpc_on_text(payload)
        for note in client.notifications:
            out.write(json.dumps([t, note]) + "\n")
        client.notifications.clear()
        out.flush()

    client.ws.on_text = on_text
    out.write('["ready"]\n')
    out.flush()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes it
    await client.close()

asyncio.run(main(int(sys.argv[2]), sys.argv[3]))
"""

MONITOR = r"""
import json, select, sys, time, pyudev
monitor = pyudev.Monitor.from_netlink(pyudev.Context())
monitor.filter_by("video4linux")
monitor.start()
sys.stdout.write('["ready"]\n')
sys.stdout.flush()
while not select.select([sys.stdin], [], [], 0)[0]:  # until the benchmark closes stdin
    device = monitor.poll(timeout=0.5)
    if device is not None:
        t = time.monotonic()
        sys.stdout.write(json.dumps([t, [device.action, device.properties.get("DEVNAME")]]) + "\n")
        sys.stdout.flush()
"""


#: every service made, stopped (and its temp folder removed) at exit even
#: when a signal ends the event loop before the phases' own clean-up runs
_services: list = []


class LineChild:
    """A helper process writing ``[monotonic time, item]`` JSON lines,
    timestamped in that process; stopped by closing its stdin."""

    def __init__(self, args: list, env: Optional[dict] = None):
        self.proc = h.spawn(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.queue: asyncio.Queue = asyncio.Queue()
        self._pump = None

    async def start(self) -> "LineChild":
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 22)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.proc.stdout)
        first = await asyncio.wait_for(reader.readline(), 30)
        if json.loads(first or b"null") != ["ready"]:
            raise RuntimeError(f"helper process did not start: {first!r}")

        async def pump():
            while True:
                line = await reader.readline()
                if not line:
                    return
                t, item = json.loads(line)
                self.queue.put_nowait((t, item))

        self._pump = asyncio.ensure_future(pump())
        return self

    def drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def until(self, match, timeout: float, skipped=None) -> Optional[float]:
        """Time of the next item for which ``match(item)``; None after
        ``timeout`` seconds. Calls ``skipped(item)`` for the others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                t, item = await asyncio.wait_for(self.queue.get(), left)
            except asyncio.TimeoutError:
                return None
            if match(item):
                return t
            if skipped is not None:
                skipped(item)

    async def stop(self) -> None:
        try:
            self.proc.stdin.close()
            await asyncio.get_running_loop().run_in_executor(None, self.proc.wait, 10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        h.stop_process(self.proc)
        if self._pump is not None:
            self._pump.cancel()


class Run:
    """One service with its testbed, a listening client and, optionally, a
    bare udev monitor.

    The client that times the notifications runs in a process of its own
    (``LISTENER``: the lean client of _harness.py, authenticated): this
    process plugs webcams synchronously (umockdev calls take a millisecond
    or more each), and a client here would read a notification only once
    that is done. ``MONITOR`` is a pyudev monitor in another process: when
    it has the uevent, so has the service (umockdev sends it to every
    listener at once), which splits each latency into the uevent's part
    (umockdev and libudev: the testbed's, not camservice's) and the
    service's. CLOCK_MONOTONIC is the same in every process. ``client`` is
    a second connection of this process, for calls.
    """

    def __init__(self, bed: Bed, discovery: dict, wrapper: Optional[list], monitor: bool = False):
        self.bed = bed
        self.service = h.Service(
            cameras=0, pin=False, mediamtx=h.mediamtx_ports(), wrapper=wrapper,
            extra_env={"UMOCKDEV_DIR": bed.testbed.get_root_dir()},
            config_extra={"discovery": discovery},
        )
        _services.append(self.service)
        self.want_monitor = monitor
        self.client: Optional[h.RpcClient] = None
        self.listener: Optional[LineChild] = None
        self.monitor: Optional[LineChild] = None
        self.other_notes = 0
        self.descendants: list = []

    async def start(self) -> "Run":
        self.service.start()
        await asyncio.get_running_loop().run_in_executor(None, self._wait_mediamtx)
        self.client = await h.RpcClient.connect(h.HOST, self.service.port, token=self.service.token)
        self.listener = await LineChild([sys.executable, "-c", LISTENER, Path(h.__file__).parent,
                                         self.service.port, self.service.token]).start()
        if self.want_monitor:
            env = dict(os.environ, UMOCKDEV_DIR=self.bed.testbed.get_root_dir())
            self.monitor = await LineChild([sys.executable, "-c", MONITOR], env=env).start()
        return self

    def _wait_mediamtx(self, timeout: float = 30.0) -> None:
        url = f"http://{h.HOST}:{self.service.port}/health/mediamtx"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"MediaMTX not up in {timeout} s: {self.service.log_text()[-2000:]}")
            time.sleep(0.1)

    @property
    def mode_fell_back(self) -> bool:
        return FALLBACK_WARNING in self.service.log_text()

    def drain(self) -> None:
        for child in (self.listener, self.monitor):
            if child is not None:
                child.drain()

    def _other(self, item) -> None:
        self.other_notes += 1

    async def until(self, device: str, status: str, timeout: float) -> Optional[float]:
        """Arrival time of the next ``camera_status_update`` of ``device``
        with ``status`` at the listening client; None after ``timeout``."""
        def match(note):
            params = note.get("params") or {}
            return (note.get("method") == "camera_status_update" and params.get("device") == device
                    and params.get("status") == status)
        return await self.listener.until(match, timeout, self._other)

    async def uevent(self, action: str, node: str, timeout: float) -> Optional[float]:
        """When the bare monitor had the uevent ``action`` of ``node``."""
        return await self.monitor.until(lambda item: item == [action, node], timeout)

    async def stop(self) -> None:
        pid = self.service.proc.pid if self.service.proc else None
        if pid:
            self.descendants = [i for i in (h.proc_identity(p) for p in h.descendants(pid)) if i]
        for child in (self.listener, self.monitor):
            if child is not None:
                await child.stop()
        if self.client is not None:
            try:
                await self.client.close()
            except Exception:
                self.client.abort()
        self.service.stop()
        # anything of the service's left behind (MediaMTX, a probe) goes too
        for identity in self.descendants:
            if h.kill_if_same(identity):
                log(f"killed a leftover {identity[2]} ({identity[0]})")


def plug(bed: Bed, number: int) -> float:
    """Plug webcam ``number``: capture node N and metadata node N+1 under
    one USB parent, the devices of ``Bed.add_webcam``; the time just before
    the capture node is added.

    umockdev (0.17) emits the ``add`` uevent in ``add_device`` itself, right
    after making the sysfs entries (``Bed.add_webcam(uevent=True)`` sends a
    second one; with ``uevent=False`` still one), so the plug is timed from
    just before that call and no other uevent is sent. The USB parent is
    made before the clock starts."""
    vendor, product = "046d", "082d"
    serial = f"Webcam_{number:04d}"
    id_path = f"pci-0000:00:14.0-usb-0:{number + 1}:1.0"
    testbed = bed.testbed
    parent = testbed.add_device(
        "usb", f"usb-cam{number}", None,
        ["idVendor", vendor, "idProduct", product, "serial", serial],
        ["ID_SERIAL", serial, "ID_VENDOR_ID", vendor, "ID_MODEL_ID", product],
    )
    bed._parents[number] = parent  # so that Bed.unplug and Bed.close know it
    t0 = time.monotonic()
    for node, caps in ((number, ":capture:"), (number + 1, ":")):
        bed._nodes[node] = testbed.add_device(
            "video4linux", f"video{node}", parent,
            ["name", f"Webcam {number}", "index", "0" if node == number else "1", "dev", f"81:{node}"],
            ["DEVNAME", f"/dev/video{node}", "ID_V4L_CAPABILITIES", caps, "ID_V4L_VERSION", "2",
             "ID_SERIAL", serial, "ID_PATH", id_path, "ID_VENDOR_ID", vendor, "ID_MODEL_ID", product],
        )
    return t0


def unplug(bed: Bed, number: int, uevent: bool = True) -> float:
    t0 = time.monotonic()
    bed.unplug(number, uevent=uevent)
    return t0


def calls_count(calls: Path) -> int:
    with open(calls, "rb") as f:
        return sum(1 for _ in f)


# --------------------------------------------------------------------------
# the measurements


async def cycles(run: Run, n: int, uevent: bool, timeout: float, pause, warmup: int) -> dict:
    """``n`` measured plug/unplug cycles of webcam 0 (after ``warmup``).
    With the bare monitor: each latency split at the uevent."""
    lat = {"plug": [], "unplug": []}
    split = {"plug": ([], []), "unplug": ([], [])}
    lost = 0
    for i in range(-warmup, n):
        for what in ("plug", "unplug"):
            await asyncio.sleep(pause())
            run.drain()
            if what == "plug":
                t0 = plug(run.bed, 0)
                t1 = await run.until("camera0", "CONNECTED", timeout)
            else:
                t0 = unplug(run.bed, 0, uevent)
                t1 = await run.until("camera0", "DISCONNECTED", timeout)
            if t1 is None:
                lost += 1
                continue
            if run.monitor is not None:
                te = await run.uevent("add" if what == "plug" else "remove", "/dev/video0", 1.0)
            if i < 0:
                continue
            lat[what].append(t1 - t0)
            if run.monitor is not None and te is not None:
                split[what][0].append(te - t0)
                split[what][1].append(t1 - te)
        if lost > 5:
            raise RuntimeError(f"{lost} notifications lost: {run.service.log_text()[-2000:]}")
        if i >= 0 and (i + 1) % max(1, n // 5) == 0:
            log(f"  {i + 1}/{n} cycles")
    result = {}
    for what in ("plug", "unplug"):
        result[what] = summary(lat[what])
        if run.monitor is not None:
            result[what]["to_uevent"] = summary(split[what][0])
            result[what]["uevent_to_notification"] = summary(split[what][1])
    result["lost"] = lost
    return result


async def bench_udev(bed: Bed, exe: Path, calls: Path, wrapper, n: int) -> dict:
    run = await Run(bed, {"mode": "udev", "debounce": 0, "v4l2_ctl": str(exe)}, wrapper, monitor=True).start()
    try:
        c0 = calls_count(calls)
        figures = await cycles(run, n, True, 5.0, lambda: UDEV_SETTLE_S, WARMUP_CYCLES)
        c1 = calls_count(calls)
        fell_back = run.mode_fell_back
        result = {
            "mode": "udev", "mode_in_use": "poll (fallback: no udev database)" if fell_back else "udev",
            "debounce_s": 0, "cycles": n, "warmup_cycles": WARMUP_CYCLES, "settle_ms": UDEV_SETTLE_S * 1000,
            **figures,
            "v4l2_ctl_calls_per_plug": round((c1 - c0) / (n + WARMUP_CYCLES), 2),
            "other_notifications": run.other_notes,
        }
        p99 = result["plug"].get("p99_ms")
        result["plug_p99_budget_ms"] = PLUG_P99_BUDGET_MS
        result["plug_p99_within_budget"] = p99 is not None and p99 < PLUG_P99_BUDGET_MS
        return result
    finally:
        await run.stop()


async def bench_poll(bed: Bed, exe: Path, calls: Path, wrapper, n: int) -> dict:
    from camservice.config import load_config

    run = Run(bed, {"mode": "poll", "debounce": 0, "v4l2_ctl": str(exe)}, wrapper)
    interval = float(load_config(run.service.config).discovery.poll_interval)
    await run.start()
    try:
        c0 = calls_count(calls)
        figures = await cycles(run, n, False, 2 * interval + 5.0, lambda: random.uniform(0, interval), 0)
        c1 = calls_count(calls)
        result = {"mode": "poll", "poll_interval_s": interval, "debounce_s": 0, "cycles": n, **figures,
                  "v4l2_ctl_calls_per_plug": round((c1 - c0) / n, 2) if n else None,
                  "other_notifications": run.other_notes}
        for key in ("plug", "unplug"):
            mean = result[key].get("mean_ms")
            result[key]["mean_over_interval"] = round(mean / (interval * 1000), 3) if mean else None
        return result
    finally:
        await run.stop()


async def bench_idle(bed: Bed, exe: Path, calls: Path, wrapper, cameras: int, seconds: float) -> dict:
    from camservice.config import load_config

    run = Run(bed, {"mode": "hybrid", "v4l2_ctl": str(exe)}, wrapper)
    discovery = load_config(run.service.config).discovery
    await run.start()
    numbers = [2 * i for i in range(cameras)]
    try:
        # One webcam at a time, each once the previous one is CONNECTED:
        # umockdev delivers uevents over a Unix datagram socket whose queue
        # holds net.unix.max_dgram_qlen (10) messages, and aborts this
        # process when a burst overflows it.
        run.drain()
        per_camera = []
        t_first = time.monotonic()
        for number in numbers:
            t0 = plug(run.bed, number)
            t1 = await run.until(f"camera{number}", "CONNECTED", 10.0)
            if t1 is None:
                raise RuntimeError(f"camera{number} not CONNECTED in 10 s: {run.service.log_text()[-2000:]}")
            per_camera.append(t1 - t0)
        all_connected = t1 - t_first
        listing = (await run.client.result("get_camera_list"))["cameras"]
        connected = sum(1 for c in listing if c.get("status") == "CONNECTED")
        await asyncio.sleep(5.0)  # MediaMTX paths, first health checks
        pid = run.service.pid
        mtx = [p for p in h.children(pid) if (h.proc_identity(p) or (0, 0, ""))[2] == "mediamtx"]
        if not mtx:
            raise RuntimeError("no MediaMTX child of the service")
        mtx_pid = mtx[0]
        paths = mediamtx_paths(run.service.mediamtx["api_port"], run.service.mediamtx_headers())
        run.drain()
        n0 = run.other_notes
        c0 = calls_count(calls)
        log(f"  {cameras} cameras CONNECTED; idle for {seconds:.0f} s")
        s0, m0, w0 = h.cpu_seconds(pid), h.cpu_seconds(mtx_pid), time.monotonic()
        await asyncio.sleep(seconds)
        s1, m1, w1 = h.cpu_seconds(pid), h.cpu_seconds(mtx_pid), time.monotonic()
        wall = w1 - w0
        notes = run.listener.queue.qsize() + run.other_notes - n0
        service_pct = round(100.0 * (s1 - s0) / wall, 3)
        return {
            "mode": "hybrid", "mode_in_use": "poll (fallback: no udev database)" if run.mode_fell_back else "hybrid",
            "safety_poll_interval_s": discovery.safety_poll_interval, "cameras": cameras,
            "cameras_connected": connected, "mediamtx_paths": paths,
            "plug_one_by_one_ms": summary(per_camera),
            "first_plug_to_last_connected_ms": ms(all_connected),
            "seconds": round(wall, 1),
            "service_cpu_s": round(s1 - s0, 3), "service_cpu_pct": service_pct,
            "mediamtx_cpu_s": round(m1 - m0, 3), "mediamtx_cpu_pct": round(100.0 * (m1 - m0) / wall, 3),
            "service_rss_mb": round(h.rss_mb(pid), 1), "mediamtx_rss_mb": round(h.rss_mb(mtx_pid), 1),
            "cpu_tick_s": round(1.0 / os.sysconf("SC_CLK_TCK"), 3),
            "notifications_while_idle": notes,
            "v4l2_ctl_calls_while_idle": calls_count(calls) - c0,
            "service_cpu_budget_pct": IDLE_CPU_BUDGET_PCT,
            "service_cpu_within_budget": service_pct < IDLE_CPU_BUDGET_PCT,
        }
    finally:
        await run.stop()
        for number in numbers:
            if number in bed._parents:
                bed.unplug(number, uevent=False)


def mediamtx_paths(api_port: int, headers: dict) -> Optional[int]:
    try:
        request = urllib.request.Request(f"http://{h.HOST}:{api_port}/v3/paths/list", headers=headers)
        with urllib.request.urlopen(request, timeout=2) as r:
            return json.loads(r.read()).get("itemCount")
    except (urllib.error.URLError, OSError, ValueError):
        return None


# --------------------------------------------------------------------------


async def main_async(args, tmp: Path, bed: Bed) -> dict:
    exe, calls = write_replayer(tmp)
    root = bed.testbed.get_root_dir()
    log("replayer cost")
    replayer = replayer_cost(exe, root)
    wrapper, how = udev_wrapper(tmp)
    warnings = []
    if wrapper is None and not how.startswith("host"):
        warnings.append(f"no udev database for the service ({how}): udev and hybrid fall back to polling")
    result: dict = {"bench": "discovery", "replayer": replayer, "udev_database": how}
    log(f"udev: {args.cycles} cycles ({how})")
    result["udev"] = await bench_udev(bed, exe, calls, wrapper, args.cycles)
    log(f"poll: {args.poll_cycles} cycles")
    result["poll"] = await bench_poll(bed, exe, calls, wrapper, args.poll_cycles)
    log(f"idle: {args.cameras} cameras, {args.idle:.0f} s")
    result["idle_16"] = await bench_idle(bed, exe, calls, wrapper, args.cameras, args.idle)
    for key in ("udev", "idle_16"):
        if "fallback" in result[key].get("mode_in_use", ""):
            warnings.append(f"{key}: the service polled instead of using udev")
    result["warnings"] = warnings
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=200, help="udev plug/unplug cycles")
    ap.add_argument("--poll-cycles", type=int, default=30, help="poll-mode plug/unplug cycles")
    ap.add_argument("--cameras", type=int, default=16, help="webcams for the idle measurement")
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    args = ap.parse_args()
    h.install_cleanup()
    tmp = Path(tempfile.mkdtemp(prefix="camservice-bench-discovery-"))
    started = time.monotonic()
    bed = Bed()  # before any service: the services see this testbed
    try:
        result = asyncio.run(main_async(args, tmp, bed))
    finally:
        for service in _services:
            service.stop()  # a no-op for one already stopped
        h.cleanup()
        bed.close()  # the testbed's folder goes with it
        shutil.rmtree(tmp, ignore_errors=True)
    result["duration_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
