"""Recordings through the real MediaMTX: reply latencies, finalize time per
minute of video, and what four cameras recording at once cost.

    .venv/bin/python tests/bench/recording.py [-n 10] [--minutes 1] [--sample 20]

Starts camservice (``twistd -n --pidfile= camservice --config FILE``) with
a managed MediaMTX on free loopback ports and four virtual cameras (320x240
at 10 fps, FFmpeg's test pattern encoded with libx264),
``mediamtx.on_demand_close_after: 1``, every other setting at its default
(segments of 60 s written in parts of 1 s), then measures:

1. ``start_recording`` and ``stop_recording`` reply latency, N times each
   (default 10) on one camera, recording 2 s each time:
   *cold* (the stream not live: the source starts within the call) and
   *warm* (``start_streaming`` holds the stream live first). Stop includes
   finalizing 2 s of video.
2. CPU and RSS of camservice, of MediaMTX and of the FFmpeg processes
   (sources and camservice's keep-alive readers) over ``--sample`` seconds
   (default 20): first with the four streams only held live
   (``start_streaming``), then with the four recording. CPU is % of one
   core over the window (utime + stime from /proc).
3. Finalize time per minute of video: the four recordings of step 2 go on
   until they hold ``--minutes`` minutes (default 1) of video, in formats
   fmp4, mp4, mkv, fmp4, then are stopped one after the other; each stop
   reply (recording off, waiting for MediaMTX to close the segment, FFmpeg
   joining and remuxing with ``-c copy``, fsync and rename) divided by the
   minutes of video. ffprobe checks each file's duration.

The service is not pinned to a CPU (MediaMTX and FFmpeg are its children
and would share its core). Everything started is stopped at the end.

Prints progress to stderr and one JSON object as the last line of stdout:
``{"bench": "recording", "start_recording": {...}, "stop_recording":
{...}, "resources": {...}, "finalize": {...}}``. Takes about
``1 + minutes`` minutes plus 2 s per run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

CAMERAS = [f"camera{1000 + i}" for i in range(4)]
FORMATS = ["fmp4", "mp4", "mkv", "fmp4"]
#: DESIGN.md: start_recording reply p99 < 500 ms; finalizing well under 1 s per minute
START_BUDGET_MS = 500.0


def log(msg: str) -> None:
    sys.stderr.write(f"[recording] {msg}\n")
    sys.stderr.flush()


def summary(values: list) -> dict:
    v = sorted(values)
    return {"n": len(v), "p50_ms": round(h.percentile(v, 50) * 1000, 1), "p99_ms": round(h.percentile(v, 99) * 1000, 1),
            "max_ms": round(v[-1] * 1000, 1)}


def processes(root: int) -> dict[str, list[int]]:
    """camservice, MediaMTX and FFmpeg pids under ``root``."""
    out: dict[str, list[int]] = {"camservice": [root], "mediamtx": [], "ffmpeg": []}
    for pid in h.descendants(root):
        ident = h.proc_identity(pid)
        if ident is None:
            continue
        if ident[2].startswith("mediamtx"):
            out["mediamtx"].append(pid)
        elif ident[2].startswith("ffmpeg"):
            out["ffmpeg"].append(pid)
    return out


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += h.cpu_seconds(pid)
        except OSError:
            pass
    return total


def _rss(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += h.rss_mb(pid)
        except (OSError, RuntimeError):
            pass
    return total


async def sample(root: int, seconds: float) -> dict:
    """CPU (% of one core) and RSS (MB) per group over ``seconds``."""
    groups = processes(root)
    before = {g: _cpu(p) for g, p in groups.items()}
    t0 = time.monotonic()
    rss_peak = {g: 0.0 for g in groups}
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(1.0)
        for g, pids in groups.items():
            rss_peak[g] = max(rss_peak[g], _rss(pids))
    wall = time.monotonic() - t0
    return {
        g: {"processes": len(groups[g]), "cpu_percent": round(100 * (_cpu(groups[g]) - before[g]) / wall, 1),
            "rss_mb": round(rss_peak[g], 1)}
        for g in groups
    }


async def ready(client, camera: str, want: bool, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (await client.result("get_stream_status", {"device": camera}))["ready"] != want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{camera} never became {'ready' if want else 'idle'}")
        await asyncio.sleep(0.1)


def ffprobe_duration(path: Path) -> Optional[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60)
    try:
        return round(float(json.loads(out.stdout)["format"]["duration"]), 2)
    except (KeyError, ValueError):
        return None


async def latencies(client, n: int, warm: bool) -> tuple[list, list]:
    camera = CAMERAS[0]
    starts, stops = [], []
    if warm:
        await client.result("start_streaming", {"device": camera})
    for i in range(n):
        if not warm:
            await ready(client, camera, False)
        t0 = time.perf_counter()
        await client.result("start_recording", {"device": camera})
        starts.append(time.perf_counter() - t0)
        await asyncio.sleep(2.0)
        t0 = time.perf_counter()
        await client.result("stop_recording", {"device": camera})
        stops.append(time.perf_counter() - t0)
        log(f"{'warm' if warm else 'cold'} run {i + 1}: start {starts[-1] * 1000:.0f} ms, "
            f"stop {stops[-1] * 1000:.0f} ms")
    if warm:
        await client.result("stop_streaming", {"device": camera})
    return starts, stops


async def run(service: h.Service, args) -> dict:
    client = await h.RpcClient.connect(h.HOST, service.port, token=service.mint_token("admin"))
    try:
        cold = await latencies(client, args.n, warm=False)
        warm = await latencies(client, args.n, warm=True)

        for camera in CAMERAS:
            await client.result("start_streaming", {"device": camera})
        await asyncio.sleep(3.0)
        log(f"sampling {args.sample} s with 4 streams held live")
        streaming = await sample(service.pid, args.sample)
        started = []
        for camera, fmt in zip(CAMERAS, FORMATS):
            started.append(await client.result("start_recording", {"device": camera, "format": fmt}))
        t_rec = time.monotonic()
        await asyncio.sleep(3.0)
        log(f"sampling {args.sample} s with 4 cameras recording")
        recording = await sample(service.pid, args.sample)
        remaining = args.minutes * 60 - (time.monotonic() - t_rec)
        if remaining > 0:
            log(f"recording {remaining:.0f} s more")
            await asyncio.sleep(remaining)
        finals = []
        for camera, fmt in zip(CAMERAS, FORMATS):
            t0 = time.perf_counter()
            stopped = await client.result("stop_recording", {"device": camera})
            took = time.perf_counter() - t0
            path = service.tmp / "data" / "recordings" / stopped["filename"]
            video = ffprobe_duration(path)
            finals.append({"format": fmt, "video_s": video, "reported_s": stopped["duration"],
                           "file_mb": round(stopped["file_size"] / 1e6, 2), "stop_ms": round(took * 1000, 1),
                           "ms_per_minute": round(took * 1000 / ((video or stopped["duration"]) / 60), 1)})
            log(f"{fmt}: {video} s of video finalized in {took * 1000:.0f} ms")
        for camera in CAMERAS:
            await client.result("stop_streaming", {"device": camera})
        return {"cold": cold, "warm": warm, "streaming": streaming, "recording": recording, "finals": finals}
    finally:
        await client.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10, help="start/stop runs, cold and warm each (default 10)")
    ap.add_argument("--minutes", type=float, default=1.0, help="minutes of video to finalize (default 1)")
    ap.add_argument("--sample", type=float, default=20.0, help="seconds per CPU/RSS sample (default 20)")
    args = ap.parse_args(argv)
    h.install_cleanup()
    service = h.Service(
        cameras=None, mediamtx=dict(h.mediamtx_ports(), on_demand_close_after=1), pin=False,
        config_extra={"cameras": {"declared": [
            {"id": c, "kind": "virtual", "name": c, "resolution": "320x240", "fps": 10} for c in CAMERAS]}},
    )
    began = time.monotonic()
    try:
        service.start()
        figures = asyncio.run(run(service, args))
    except BaseException:
        log("service log tail:\n" + service.log_text()[-3000:])
        raise
    finally:
        service.stop()
    cold_start, cold_stop = figures["cold"]
    warm_start, warm_stop = figures["warm"]
    finals = figures["finals"]
    per_minute = [f["ms_per_minute"] for f in finals]
    result = {
        "bench": "recording",
        "cameras": "4 virtual 320x240@10 (libx264 ultrafast)",
        "start_recording": {"cold": summary(cold_start), "warm": summary(warm_start),
                            "budget_p99_ms": START_BUDGET_MS,
                            "warm_within_budget": summary(warm_start)["p99_ms"] < START_BUDGET_MS},
        "stop_recording_2s_video": {"cold": summary(cold_stop), "warm": summary(warm_stop)},
        "resources": {"4_streams_held": figures["streaming"], "4_recording": figures["recording"]},
        "finalize": {"files": finals, "max_ms_per_minute": max(per_minute),
                     "within_budget": max(per_minute) < 1000},
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "duration_s": round(time.monotonic() - began, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
