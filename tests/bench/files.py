"""``list_recordings`` latency with 10,000 recordings in the folder.

    .venv/bin/python tests/bench/files.py [--quick] [--files N] [--calls N]

Puts ``--files`` (default 10,000) finalized recordings of two cameras
into a fresh recordings folder, starts camservice (``twistd -n
camservice``), times from the start of twistd until all are listed (its
first scan runs in a thread, after startup), then times ``list_recordings`` one call after another
from one client (closed loop, ``--calls`` per case, default 1000):

- ``first_page``: the default page (50 newest);
- ``deep_page``: ``limit`` 50 at ``offset`` near the end;
- ``big_page``: ``limit`` 1000;
- ``camera_limited``: the first page for a token allowed one of the two
  cameras (the index filtered per call).

Prints progress to stderr and one JSON object as the last line of stdout:
``{"bench": "list_recordings", "files": 10000, "listed_after_start_ms": ...,
"first_page": {"n", "p50_ms", "p99_ms", "max_ms"}, ...}``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402


def _make_files(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    base = time.time() - n * 60
    for i in range(n):
        camera = 1000 + i % 2
        t = base + i * 60
        name = time.strftime(f"camera{camera}_%Y-%m-%d_%H-%M-%S.mp4", time.gmtime(t))
        path = folder / name
        with open(path, "wb") as f:
            f.truncate(1_000_000 + i)  # sparse: realistic sizes, no disk use
        os.utime(path, (t, t))


def _figures(values: list[float]) -> dict:
    s = sorted(values)
    ms = lambda v: None if v is None else round(v * 1000.0, 3)  # noqa: E731
    return {"n": len(s), "p50_ms": ms(h.percentile(s, 50)), "p99_ms": ms(h.percentile(s, 99)),
            "max_ms": ms(s[-1] if s else None)}


async def _time_calls(client: h.RpcClient, params: dict, calls: int, expect_total: int) -> dict:
    for _ in range(20):  # warm up
        await client.result("list_recordings", params)
    latencies = []
    for _ in range(calls):
        t0 = time.perf_counter()
        reply = await client.call("list_recordings", params)
        latencies.append(time.perf_counter() - t0)
        result = reply.get("result")
        if result is None or result["total"] != expect_total:
            raise RuntimeError(f"unexpected reply: {str(reply)[:300]}")
    return _figures(latencies)


async def _run(service: h.Service, files: int, calls: int, limited_token: str) -> dict:
    admin = await h.RpcClient.connect(h.HOST, service.port, token=service.mint_token("admin"))
    limited = await h.RpcClient.connect(h.HOST, service.port, token=limited_token)
    try:
        t0 = time.monotonic()
        while True:  # the first scan runs in a thread; lists wait for it
            total = (await admin.result("list_recordings", {"limit": 1}))["total"]
            if total == files:
                break
            if time.monotonic() - t0 > 60:
                raise RuntimeError(f"only {total} of {files} files listed after 60 s")
            await asyncio.sleep(0.01)
        listed_ms = round((time.monotonic() - service.started) * 1000.0, 1)
        out = {"listed_after_start_ms": listed_ms}
        cases = {
            "first_page": (admin, {}, files),
            "deep_page": (admin, {"limit": 50, "offset": files - 60}, files),
            "big_page": (admin, {"limit": 1000}, files),
            "camera_limited": (limited, {}, files // 2 + files % 2),
        }
        for name, (client, params, expect) in cases.items():
            out[name] = await _time_calls(client, params, calls, expect)
            print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
        return out
    finally:
        await admin.close()
        await limited.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test, not figures)")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args(argv)
    calls = 100 if args.quick else args.calls
    h.install_cleanup()
    started = time.monotonic()
    service = h.Service(cameras=2)
    try:
        _make_files(service.tmp / "data" / "recordings", args.files)
        print(json.dumps({"files_made": args.files}), file=sys.stderr, flush=True)
        limited_token = subprocess.run(
            [str(h.BIN / "camservice-admin"), "--config", str(service.config), "token", "--role", "viewer",
             "--camera", "camera1000"],
            env=service.env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip().splitlines()[-1]
        service.started = time.monotonic()
        service.start()
        figures = asyncio.run(_run(service, args.files, calls, limited_token))
        if service.proc.poll() is not None:
            raise RuntimeError(f"camservice died: {service.log_text()[-2000:]}")
        rss = h.rss_mb(service.pid)
    finally:
        service.stop()
    out = {"bench": "list_recordings", "files": args.files, "calls": calls, **figures,
           "service_rss_mb": round(rss, 1), "cpus": os.cpu_count(),
           "elapsed_s": round(time.monotonic() - started, 1)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
