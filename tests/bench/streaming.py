"""Streaming through the real MediaMTX: start latency, kill -9 recovery and
what the MediaMTX controller adds to a call.

    .venv/bin/python tests/bench/streaming.py [-n 10] [--kills 3] [--calls 500] [--signed-urls on|off]

Starts camservice (``twistd -n --pidfile= camservice --config FILE``) with a
managed MediaMTX on free loopback ports and one virtual camera (640x480 at
15 fps, FFmpeg's test pattern), ``mediamtx.on_demand_close_after: 1`` and
``mediamtx.health_check_interval: 1`` and ``streams.signed_urls`` as
``--signed-urls`` says (default on: the probes play the signed URL that
``get_stream_url`` gives; MediaMTX asks camservice's auth callback about
every read and publish either way), every other setting at its default,
then measures (and, as ``auth_callback``, what one question to the auth
callback costs: 300 sequential POSTs of a signed read over one kept-alive
connection):

Two RTSP probes, each run every 100 ms until it succeeds:

- *first packet*: ``ffprobe ... -read_intervals %+#1`` without stream
  analysis (``-analyzeduration 0 -probesize 32``): the RTSP session is set
  up and one video packet arrived, i.e. the stream is served (2 s timeout);
- *first frame*: ``ffmpeg ... -frames:v 1 -f framecrc -``: one video frame
  decoded, i.e. a viewer has a picture (3 s timeout: a joining reader waits
  for the next keyframe, and the virtual camera's encoder makes one every
  fps frames = 1 s).

The obvious probe, ``ffprobe -v error -rtsp_transport tcp
-select_streams v:0 -read_intervals %+#1 -count_frames -show_entries
stream=nb_read_frames -of csv=p=0 URL``, is not used for the figures: it
spends about 2 s analysing the stream before reading (so it never finishes
within a 2 s timeout), then decodes only the first packet MediaMTX relayed,
which is mostly not a keyframe, and answers ``N/A``. It is run 3 times on
the warm stream (``warm_stream.ffprobe_count_frames``) to show that.

1. ``start_streaming``: N times (default 10), from a stopped stream (after
   ``stop_streaming``, ``get_stream_status`` polled until ``ready`` is
   false): the reply latency; from the reply (both probes started right
   then, side by side) to the first packet and the first frame; from
   sending the request to the first frame. ``warm_stream``: the probes on a
   stream that has long been up (their floor: process start, RTSP set-up,
   and for the frame the wait for a keyframe).
2. MediaMTX killed with SIGKILL while the stream is started: seconds until
   the first frame (``kill_recovery_s``; budget < 10 s) and the first
   packet, 3 times; also when the new MediaMTX process appeared, and when
   camservice's keep-alive reader held the path again (checked after the
   stream played). Before each kill MediaMTX has run for ``--settle``
   seconds (default 11): the supervisor treats a death within 10 s of a
   start as a crash loop and backs off (1 s, 2 s, ...), so kills in quick
   succession would measure that backoff instead.
3. Controller overhead: 500 sequential ``get_stream_status`` (1-2 MediaMTX
   Control API calls) against 500 ``get_camera_capabilities`` (in-process)
   on one connection, in alternating blocks; with the stream started (2 API
   calls: the path and the RTSP sessions) and not started (1 call).

The service is not pinned to a CPU here: MediaMTX and FFmpeg are its
children and would share its core. Every process started (and their
descendants) is stopped at the end, also on an error.

Prints progress to stderr and one JSON object as the last line of stdout:
``{"bench": "streaming", "start_streaming": {...}, "kill_recovery_s":
[...], "controller_overhead": {...}}``. Takes about 2 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

CAMERA = "camera1000"
#: DESIGN.md: MediaMTX killed -> paths restored in < 10 s
KILL_RECOVERY_BUDGET_S = 10.0
POLL_S = 0.1


def log(msg: str) -> None:
    sys.stderr.write(f"[streaming] {msg}\n")
    sys.stderr.flush()


def ms(seconds: Optional[float]) -> Optional[float]:
    return None if seconds is None else round(seconds * 1000.0, 2)


def summary(values: list) -> dict:
    """p50/p99/max in ms of a list of seconds."""
    v = sorted(values)
    return {"p50_ms": ms(h.percentile(v, 50)), "p99_ms": ms(h.percentile(v, 99)),
            "max_ms": ms(v[-1] if v else None)}


# --------------------------------------------------------------------------
# processes


class Tracker:
    """Remembers every process seen under the service (MediaMTX, its FFmpeg
    sources, keep-alive readers), so that whatever outlives the service, or
    was orphaned by a kill -9, is killed at the end."""

    def __init__(self):
        self.seen: dict[int, tuple] = {}
        self.cmdlines: dict[tuple, str] = {}
        self.root: Optional[int] = None

    def scan(self) -> None:
        if self.root is None:
            return
        for pid in h.descendants(self.root):
            ident = h.proc_identity(pid)
            if ident is not None and ident[:2] not in self.cmdlines:
                self.seen[pid] = ident
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        self.cmdlines[ident[:2]] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                except OSError:
                    self.cmdlines[ident[:2]] = ident[2]

    def wait_gone(self, timeout: float) -> None:
        """Give the processes ``timeout`` seconds to exit by themselves."""
        deadline = time.monotonic() + timeout
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)

    def leftovers(self) -> list[tuple]:
        """The processes seen that still run (zombies left out: they have
        exited; whoever adopted them reaps them)."""
        out = []
        for ident in self.seen.values():
            now = h.proc_identity(ident[0])
            if now is not None and now[:2] == ident[:2] and proc_state(ident[0])[0] not in ("Z", "X", None):
                out.append(now)
        return out

    def kill_leftovers(self) -> list[str]:
        killed = []
        for ident in self.leftovers():
            # descendants of a survivor too (e.g. an orphaned FFmpeg's own children)
            for pid in h.descendants(ident[0]):
                sub = h.proc_identity(pid)
                if sub is not None and h.kill_if_same(sub):
                    killed.append(f"{sub[2]}[{pid}]")
            ppid = proc_state(ident[0])[1]
            if h.kill_if_same(ident):
                killed.append(f"{ident[0]} (parent {ppid}): {self.cmdlines.get(ident[:2], ident[2])[:300]}")
        return killed


def proc_state(pid: int) -> tuple[Optional[str], Optional[int]]:
    """(state letter, parent pid) of ``pid``; (None, None) when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, ValueError, IndexError):
        return None, None


def age_s(pid: int) -> Optional[float]:
    """Seconds since ``pid`` started."""
    ident = h.proc_identity(pid)
    if ident is None:
        return None
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - ident[1] / os.sysconf("SC_CLK_TCK")


def mediamtx_pid(service_pid: int) -> Optional[int]:
    for pid in h.children(service_pid):
        ident = h.proc_identity(pid)
        if ident is not None and ident[2].startswith("mediamtx"):
            return pid
    return None


#: The obvious one-frame probe: ffprobe reads one packet and counts the
#: frames it decodes. It takes about 2 s even on a live stream
#: (stream analysis, default analyzeduration, waits for enough frames to
#: guess the frame rate) and mostly answers "N/A": the one packet it
#: reads is the first one MediaMTX relayed, usually not a keyframe
#: (MediaMTX keeps no GOP for RTSP readers), so nothing decodes. It is run
#: only on the warm stream, to show that.
COUNT_FRAMES_FFPROBE = ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
                   "-read_intervals", "%+#1", "-count_frames", "-show_entries", "stream=nb_read_frames",
                   "-of", "csv=p=0"]
#: "first packet": the same ffprobe without the stream analysis; succeeds
#: once the RTSP session is set up and one video packet came (the stream
#: is served).
PACKET_PROBE = ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-analyzeduration", "0", "-probesize", "32",
                "-select_streams", "v:0", "-read_intervals", "%+#1", "-count_packets",
                "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"]
#: "first frame": FFmpeg reading until it has decoded one video frame (the
#: next keyframe) and exiting; one framecrc line per decoded frame.
FRAME_PROBE = ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-analyzeduration", "0",
               "-probesize", "32", "-threads", "1", "-i", "{url}", "-map", "0:v:0", "-frames:v", "1",
               "-f", "framecrc", "-"]
#: seconds each probe may take: the packet probe 2 s; the
#: frame probe one GOP (1 s: the virtual camera's encoder puts a keyframe
#: every fps frames) plus setup, else a reader joining just after a
#: keyframe would always time out
PROBE_TIMEOUT_S = {"packet": 2.0, "frame": 3.0, "count_frames": 5.0}


async def run_probe(kind: str, url: str) -> tuple[bool, str]:
    """Run one probe: (succeeded, its output)."""
    if kind == "frame":
        argv = [url if a == "{url}" else a for a in FRAME_PROBE]
    else:
        argv = (PACKET_PROBE if kind == "packet" else COUNT_FRAMES_FFPROBE) + [url]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        preexec_fn=h._die_with_parent,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT_S[kind])
    except asyncio.TimeoutError:
        return False, "timeout"
    finally:
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await proc.wait()
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        return False, f"exit {proc.returncode}"
    if kind == "frame":
        return any(line and not line.startswith("#") for line in text.splitlines()), text
    try:
        return int(text.split(",")[0]) >= 1, text
    except ValueError:
        return False, text


async def poll_probe(kind: str, url: str, limit_s: float) -> tuple[Optional[float], int]:
    """Run the probe every POLL_S until it succeeds: (monotonic time it
    did, or None after ``limit_s``; runs)."""
    stop = time.monotonic() + limit_s
    runs = 0
    while time.monotonic() < stop:
        runs += 1
        ok, _out = await run_probe(kind, url)
        if ok:
            return time.monotonic(), runs
        await asyncio.sleep(POLL_S)
    return None, runs


async def first_packet_and_frame(url: str, limit_s: float) -> dict:
    """Both probes polled side by side from now: {kind: (time, runs)}."""
    packet, frame = await asyncio.gather(poll_probe("packet", url, limit_s), poll_probe("frame", url, limit_s))
    return {"packet": packet, "frame": frame}


def http_json(url: str, timeout: float = 1.0, headers: Optional[dict] = None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return None, None


# --------------------------------------------------------------------------
# the measurements


async def until(check, timeout: float, interval: float = POLL_S, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not reached within {timeout} s")
        await asyncio.sleep(interval)


async def stream_ready(client: h.RpcClient) -> Optional[bool]:
    """``get_stream_status.ready``; None when the call fails."""
    reply = await client.call("get_stream_status", {"device": CAMERA})
    return reply["result"]["ready"] if "result" in reply else None


async def wait_not_ready(client: h.RpcClient, timeout: float = 20.0) -> None:
    async def not_ready():
        return await stream_ready(client) is False
    await until(not_ready, timeout, what="path no longer ready")


async def bench_start(client: h.RpcClient, url: str, n: int) -> dict:
    reply_s, packet_s, frame_s, send_frame_s, stop_wait_s = [], [], [], [], []
    runs = {"packet": 0, "frame": 0}
    started = False
    for i in range(n):
        if started:
            t = time.monotonic()
            await client.result("stop_streaming", {"device": CAMERA})
            await wait_not_ready(client)
            stop_wait_s.append(time.monotonic() - t)
        else:
            await wait_not_ready(client)
        t0 = time.monotonic()
        reply = await client.call("start_streaming", {"device": CAMERA}, timeout=60)
        t1 = time.monotonic()
        if "error" in reply:
            raise RuntimeError(f"start_streaming failed: {reply['error']}")
        started = True
        got = await first_packet_and_frame(url, 15.0)
        (tp, rp), (tf, rf) = got["packet"], got["frame"]
        if tp is None or tf is None:
            raise RuntimeError(f"no {'packet' if tp is None else 'frame'} over RTSP within 15 s of start_streaming")
        reply_s.append(t1 - t0)
        packet_s.append(tp - t1)
        frame_s.append(tf - t1)
        send_frame_s.append(tf - t0)
        runs["packet"] = max(runs["packet"], rp)
        runs["frame"] = max(runs["frame"], rf)
        log(f"start {i + 1}/{n}: reply {ms(t1 - t0)} ms, then first packet +{ms(tp - t1)} ms, "
            f"first frame +{ms(tf - t1)} ms ({rp}/{rf} probe runs)")

    # the floors, on a stream that has long been up
    await asyncio.sleep(1.0)
    warm: dict = {"packet": [], "frame": []}
    for kind in ("packet", "frame"):
        for _ in range(5):
            t = time.monotonic()
            got, _runs = await poll_probe(kind, url, 10.0)
            if got is not None:
                warm[kind].append(got - t)
            await asyncio.sleep(0.37)  # not in step with the 2 s GOP
    count_frames = []
    for _ in range(3):
        t = time.monotonic()
        ok, out = await run_probe("count_frames", url)
        count_frames.append({"s": round(time.monotonic() - t, 3), "nb_read_frames": out})
    return {
        "n": n,
        "reply": summary(reply_s),
        "reply_to_first_packet": summary(packet_s),
        "reply_to_first_frame": summary(frame_s),
        "send_to_first_frame": summary(send_frame_s),
        "probe_runs_max": runs,
        "warm_stream": {"first_packet": summary(warm["packet"]), "first_frame": summary(warm["frame"]),
                        "ffprobe_count_frames": count_frames},
        "stop_to_not_ready": summary(stop_wait_s),
    }


def bench_auth_callback(auth_port: int, rtsp_url: str, n: int = 300) -> dict:
    """What MediaMTX's question to camservice costs: ``n`` sequential POSTs
    of a read request carrying the stream URL's query (over one kept-alive
    connection, as MediaMTX's Go client makes them), timed at the client."""
    import http.client
    from urllib.parse import urlsplit

    query = urlsplit(rtsp_url).query
    body = json.dumps({"ip": "127.0.0.1", "user": "", "password": "", "token": "", "action": "read",
                       "path": CAMERA, "protocol": "rtsp", "id": None, "query": query, "userAgent": "bench"})
    conn = http.client.HTTPConnection(h.HOST, auth_port, timeout=5)
    times, codes = [], set()
    try:
        for _ in range(n):
            t = time.perf_counter()
            conn.request("POST", "/mediamtx/auth", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            times.append(time.perf_counter() - t)
            codes.add(response.status)
    finally:
        conn.close()
    return dict(summary(times), n=n, answers=sorted(codes))


async def bench_overhead(client: h.RpcClient, calls: int, block: int = 50) -> dict:
    params = {"device": CAMERA}

    async def timed(method: str, count: int, into: list) -> None:
        for _ in range(count):
            t = time.perf_counter()
            reply = await client.call(method, params)
            into.append(time.perf_counter() - t)
            if "error" in reply:
                raise RuntimeError(f"{method} failed: {reply['error']}")

    async def pair() -> tuple[list, list]:
        status, caps, scratch = [], [], []
        await timed("get_stream_status", 50, scratch)  # warm-up
        await timed("get_camera_capabilities", 50, scratch)
        done = 0
        while done < calls:
            k = min(block, calls - done)
            await timed("get_camera_capabilities", k, caps)
            await timed("get_stream_status", k, status)
            done += k
        return status, caps

    def stats(values: list) -> dict:
        v = sorted(values)
        return {"p50_ms": round(h.percentile(v, 50) * 1000, 3), "p99_ms": round(h.percentile(v, 99) * 1000, 3)}

    # started (from the start_streaming runs): the path plus the RTSP sessions
    status_on, caps_on = await pair()
    await client.result("stop_streaming", params)
    await wait_not_ready(client)
    status_off, caps_off = await pair()  # not started: the path only
    caps = stats(caps_on + caps_off)
    on, off = stats(status_on), stats(status_off)
    return {
        "calls": calls,
        "get_camera_capabilities": caps,
        "get_stream_status": dict(on, control_api_calls=2),
        "get_stream_status_not_started": dict(off, control_api_calls=1),
        "overhead_p50_ms": round(on["p50_ms"] - caps["p50_ms"], 3),
        "overhead_p99_ms": round(on["p99_ms"] - caps["p99_ms"], 3),
        "overhead_not_started_p50_ms": round(off["p50_ms"] - caps["p50_ms"], 3),
        "overhead_not_started_p99_ms": round(off["p99_ms"] - caps["p99_ms"], 3),
    }


def holder_back(api: str, headers: dict) -> bool:
    """MediaMTX lists the path ready and camservice's keep-alive reader on it."""
    code, path = http_json(f"{api}/v3/paths/get/{CAMERA}", headers=headers)
    if code != 200 or not (path or {}).get("ready"):
        return False
    code, sessions = http_json(f"{api}/v3/rtspsessions/list?itemsPerPage=1000", headers=headers)
    if code != 200:
        return False
    return any(s.get("path") == CAMERA and s.get("state") == "read"
               and (s.get("query") or "").startswith("camservice=hold")
               for s in (sessions or {}).get("items", []))


async def bench_kill(client: h.RpcClient, service: h.Service, tracker: Tracker, url: str, kills: int,
                     settle_s: float) -> dict:
    api = f"http://{h.HOST}:{service.mediamtx['api_port']}"
    health = f"http://{h.HOST}:{service.port}/health/mediamtx"
    await client.result("start_streaming", {"device": CAMERA}, timeout=60)

    async def held():
        return holder_back(api, service.mediamtx_headers())

    async def settled():
        return holder_back(api, service.mediamtx_headers()) and http_json(health)[0] == 200

    recovery, packet_s, new_pid_s, holder_s, attempts, ages = [], [], [], [], [], []
    for i in range(kills):
        await until(settled, 30, what="stream held and MediaMTX healthy before the kill")
        await asyncio.sleep(1.0)
        old = mediamtx_pid(service.pid)
        if old is None:
            raise RuntimeError("no MediaMTX child of the service")
        # Settled: MediaMTX up for longer than the supervisor's threshold, so
        # that its death is not taken for a crash loop (restart backoff).
        await asyncio.sleep(max(0.0, settle_s - (age_s(old) or 0.0)))
        await until(settled, 30, what="stream held and MediaMTX healthy before the kill")
        tracker.scan()
        ages.append(round(age_s(old) or 0.0, 1))
        seen_new: list[float] = []

        async def watch_pid():
            while True:
                pid = mediamtx_pid(service.pid)
                if pid is not None and pid != old:
                    seen_new.append(time.monotonic())
                    tracker.scan()
                    return
                await asyncio.sleep(0.01)

        os.kill(old, signal.SIGKILL)
        t0 = time.monotonic()
        _watcher = asyncio.ensure_future(watch_pid())  # held: the task must not be collected
        got = await first_packet_and_frame(url, 30.0)
        (tp, rp), (t1, tries) = got["packet"], got["frame"]
        recovery.append(None if t1 is None else round(t1 - t0, 3))
        packet_s.append(None if tp is None else round(tp - t0, 3))
        new_pid_s.append(round(seen_new[0] - t0, 3) if seen_new else None)
        attempts.append({"packet": rp, "frame": tries})
        try:
            await until(held, 30, what="keep-alive reader back")
            holder_s.append(round(time.monotonic() - t0, 3))
        except RuntimeError:
            holder_s.append(None)
        tracker.scan()
        log(f"kill {i + 1}/{kills}: first frame after {recovery[-1]} s, first packet after {packet_s[-1]} s "
            f"(new MediaMTX after {new_pid_s[-1]} s; {rp}/{tries} probe runs; held again after {holder_s[-1]} s)")
    return {"recovery_s": recovery, "first_packet_s": packet_s, "new_mediamtx_s": new_pid_s,
            "held_again_s": holder_s, "probe_runs": attempts, "mediamtx_age_at_kill_s": ages}


# --------------------------------------------------------------------------


async def run(service: h.Service, tracker: Tracker, args) -> dict:
    operator = service.mint_token("operator")
    client = await h.RpcClient.connect(h.HOST, service.port, token=operator)
    try:
        health = f"http://{h.HOST}:{service.port}/health/mediamtx"

        async def mediamtx_up():  # healthy, and the camera's path added
            if http_json(health)[0] != 200:
                return False
            reply = await client.call("get_stream_status", {"device": CAMERA})
            return ((reply.get("result") or {}).get("mediamtx_path") or {}).get("exists")
        await until(mediamtx_up, 30, what="MediaMTX up with the camera's path")
        tracker.scan()
        url = (await client.result("get_stream_url", {"device": CAMERA}))["stream_url"]
        log(f"service up (pid {service.pid}, MediaMTX pid {mediamtx_pid(service.pid)}); {url}")

        t = time.monotonic()
        start = await bench_start(client, url, args.n)
        tracker.scan()
        log(f"start_streaming done in {time.monotonic() - t:.1f} s")

        auth_port = json.loads(service.config.read_text())["streams"]["auth_port"]
        auth = bench_auth_callback(auth_port, url)
        log(f"auth callback: p50 {auth['p50_ms']} ms, p99 {auth['p99_ms']} ms, answers {auth['answers']}")

        t = time.monotonic()
        overhead = await bench_overhead(client, args.calls)
        log(f"controller overhead done in {time.monotonic() - t:.1f} s: "
            f"get_stream_status p50 {overhead['get_stream_status']['p50_ms']} ms vs "
            f"get_camera_capabilities p50 {overhead['get_camera_capabilities']['p50_ms']} ms")

        kill = await bench_kill(client, service, tracker, url, args.kills, args.settle)
        try:
            await client.call("stop_streaming", {"device": CAMERA}, timeout=10)
        except (asyncio.TimeoutError, ConnectionError):
            pass
    finally:
        await client.close()
    return {"start": start, "overhead": overhead, "kill": kill, "auth": auth}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10, help="start_streaming runs (default 10)")
    ap.add_argument("--kills", type=int, default=3, help="MediaMTX kills (default 3)")
    ap.add_argument("--calls", type=int, default=500, help="calls per method for the overhead (default 500)")
    ap.add_argument("--settle", type=float, default=11.0,
                    help="MediaMTX's age before each kill, in seconds (default 11: the supervisor treats a death "
                         "within 10 s of a start as a crash loop and backs off)")
    ap.add_argument("--service-log", metavar="FILE", help="keep a copy of the service's log here")
    ap.add_argument("--signed-urls", choices=["on", "off"], default="on",
                    help="streams.signed_urls (default on: every read carries a token that camservice's auth "
                         "callback checks; off: the callback still answers every read and publish)")
    args = ap.parse_args(argv)
    h.install_cleanup()

    settings = dict(h.mediamtx_ports(), on_demand_close_after=1, health_check_interval=1)
    tracker = Tracker()
    service = h.Service(cameras=1, mediamtx=settings, pin=False,
                        config_extra={"streams": {"signed_urls": args.signed_urls == "on", "token_ttl": 3600}})
    began = time.monotonic()
    leftovers: list[str] = []
    try:
        service.start()
        tracker.root = service.pid
        figures = asyncio.run(run(service, tracker, args))
    except BaseException:
        log("service log tail:\n" + service.log_text()[-3000:])
        raise
    finally:
        tracker.scan()
        if args.service_log:
            Path(args.service_log).write_text(service.log_text())
        service.stop()
        tracker.wait_gone(5.0)
        leftovers = tracker.kill_leftovers()
        if leftovers:
            log(f"killed processes left behind by the service: {', '.join(leftovers)}")

    start, overhead, kill = figures["start"], figures["overhead"], figures["kill"]
    recovery = kill["recovery_s"]
    result = {
        "bench": "streaming",
        "camera": "virtual 640x480@15 (libx264 ultrafast)",
        "signed_urls": args.signed_urls == "on",
        "auth_callback": figures["auth"],
        "start_streaming": start,
        "kill_recovery_s": recovery,
        "kill_recovery": {
            "budget_s": KILL_RECOVERY_BUDGET_S,
            "within_budget": all(r is not None and r < KILL_RECOVERY_BUDGET_S for r in recovery),
            **{k: v for k, v in kill.items() if k != "recovery_s"},
        },
        "controller_overhead": overhead,
        "left_behind": leftovers,
        "settings": {k: settings[k] for k in ("on_demand_close_after", "health_check_interval")},
        "pinned": False,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "duration_s": round(time.monotonic() - began, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
