"""Configuration reload: latency, and what a reload costs clients under load.

    .venv/bin/python tests/bench/reload.py [--quick] [--reloads N]

Starts camservice (``twistd -n camservice``) with 16 virtual cameras declared
and an admin client connected, then:

- reload latency: rename one declared camera in the file, send SIGHUP, and
  time until the admin client receives ``system.config_changed`` (the camera
  table, MediaMTX's paths and the backup are done by then); ``--reloads``
  times (default 20);
- load during reloads: an open-loop load (100 clients x 10 ``ping``/s) for
  10 s without reloads, then 10 s with a SIGHUP reload every 0.5 s; p50/p99
  of both.

Prints progress to stderr and one JSON object as the last line of stdout:
``{"bench": "reload", "cameras": 16, "reload_ms": {"p50", "p90", "max"},
"load": {"baseline": {...}, "during_reloads": {...}}, ...}``. Takes about
half a minute.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

CAMERAS = 16


def _rename(service: h.Service, n: int) -> None:
    document = json.loads(service.config.read_text())
    document["cameras"]["declared"][-1]["name"] = f"Renamed {n}"
    service.config.write_text(json.dumps(document, indent=2) + "\n")


async def _wait_changed(client: h.RpcClient, seen: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [m for m in client.notifications
                  if m.get("method") == "event" and m["params"].get("topic") == "system.config_changed"]
        if len(events) > seen:
            return events[seen]["params"]
        await asyncio.sleep(0.0005)
    raise RuntimeError("no system.config_changed in time")


async def _reload_latencies(service: h.Service, admin_token: str, reloads: int, start_n: int,
                            pause: float = 0.0) -> list[float]:
    client = await h.RpcClient.connect(h.HOST, service.port, token=admin_token)
    latencies = []
    try:
        for i in range(reloads):
            seen = len([m for m in client.notifications if m.get("method") == "event"])
            _rename(service, start_n + i)
            t0 = time.monotonic()
            os.kill(service.pid, signal.SIGHUP)
            params = await _wait_changed(client, seen)
            latencies.append(time.monotonic() - t0)
            if params["status"] != "applied":
                raise RuntimeError(f"reload not applied: {params}")
            if pause:
                await asyncio.sleep(pause)
    finally:
        await client.close()
    return latencies


def _figures(values: list[float]) -> dict:
    s = sorted(values)
    ms = lambda v: None if v is None else round(v * 1000.0, 2)  # noqa: E731
    return {"n": len(s), "p50": ms(h.percentile(s, 50)), "p90": ms(h.percentile(s, 90)), "max": ms(s[-1] if s else None)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test, not figures)")
    ap.add_argument("--reloads", type=int, default=20)
    args = ap.parse_args(argv)
    duration = 3.0 if args.quick else 10.0
    h.install_cleanup()
    started = time.monotonic()
    with h.Service(cameras=CAMERAS, config_extra={"reload": {"backups": 5}}) as service:
        admin_token = service.mint_token("admin")
        time.sleep(1.0)  # MediaMTX up, paths in place
        latencies = asyncio.run(_reload_latencies(service, admin_token, args.reloads, 0))
        print(json.dumps({"reload_ms": _figures(latencies)}), file=sys.stderr, flush=True)

        with h.Workers(service, 100, 1, "ping", None, 10.0, False) as w:
            baseline = w.run(duration, 1.0)
        print(json.dumps({"baseline": baseline}), file=sys.stderr, flush=True)

        during: list[float] = []
        errors: list[BaseException] = []

        def reloader():
            try:
                count = int((duration + 1.0) / 0.5)
                during.extend(asyncio.run(_reload_latencies(service, admin_token, count, 1000, pause=0.5)))
            except BaseException as e:  # reported below
                errors.append(e)

        with h.Workers(service, 100, 1, "ping", None, 10.0, False) as w:
            thread = threading.Thread(target=reloader)
            thread.start()
            loaded = w.run(duration, 1.0)
            thread.join(60)
        if errors:
            raise errors[0]
        print(json.dumps({"during_reloads": loaded}), file=sys.stderr, flush=True)
        if service.proc.poll() is not None:
            raise RuntimeError(f"camservice died: {service.log_text()[-2000:]}")
        backups = sorted((service.tmp / "data" / "config-backups").iterdir())
    out = {
        "bench": "reload",
        "cameras": CAMERAS,
        "reload_ms": _figures(latencies),
        "reload_under_load_ms": _figures(during),
        "load": {"model": "open", "clients": 100, "rate": 10, "method": "ping", "duration_s": duration,
                 "baseline": baseline, "during_reloads": loaded, "reloads_during": len(during)},
        "backups_kept": len(backups),
        "cpus": os.cpu_count(),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
