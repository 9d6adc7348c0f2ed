"""Memory (RSS) of camservice: idle, with idle clients, and after many requests.

    .venv/bin/python tests/bench/memory.py [--requests 200000] [--quick]

Starts camservice (rate limit off) on a free loopback port and reads its
VmRSS from /proc/PID/status:

1. idle, no client;
2. with 100, then 1,000 connected, authenticated, idle clients (held by
   separate load generator processes), and again after they have left;
   ``kb_per_idle_connection`` is the growth from 100 to 1,000 clients per
   extra connection (budget: <= 20 KB); after they left, RSS is read again
   after 6.5 s (the service trims 5 s after the last client left) and
   after 30 s (budget: within 3 MB of idle);
3. while 100 clients call ``get_camera_list`` in a closed loop until
   ``--requests`` have been served, sampled after each 5 s step; the growth
   after the first step (warm-up) shows whether anything is kept per request;
4. a second service with 16 declared cameras and 100 idle clients (DESIGN.md
   budget: < 100 MB);
5. idle again with TLS configured (``rss_idle_tls_mb``, a self-signed
   certificate), and with 100 idle ``wss://`` clients.

Prints progress to stderr and one JSON object as the last line of stdout.
Takes about a minute.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402


def settled_rss(pid: int, wait: float = 1.0) -> float:
    """RSS in MB after ``wait`` seconds, once two samples 0.25 s apart agree within 0.1 MB."""
    time.sleep(wait)
    last = h.rss_mb(pid)
    for _ in range(20):
        time.sleep(0.25)
        now = h.rss_mb(pid)
        if abs(now - last) < 0.1:
            return round(now, 2)
        last = now
    return round(last, 2)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200_000, help="get_camera_list calls to serve (default 200000)")
    ap.add_argument("--step", type=float, default=5.0, help="seconds of load between RSS samples (default 5)")
    ap.add_argument("--quick", action="store_true", help="20,000 requests, 1 s steps")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.step = 20_000, 1.0

    h.install_cleanup()
    h.raise_nofile()
    out: dict = {"bench": "memory"}
    with h.Service(max_connections=2000) as service:
        pid = service.pid
        out["rss_idle_mb"] = settled_rss(pid, 2.0)
        log(f"idle: {out['rss_idle_mb']} MB")

        with h.Workers(service, 100, 1, auth=True) as first:
            assert first.connected == 100 and not first.connect_failures(), first.ready
            out["rss_100_clients_mb"] = settled_rss(pid)
            log(f"100 clients: {out['rss_100_clients_mb']} MB")
            with h.Workers(service, 900, 1, auth=True) as rest:
                assert rest.connected == 900 and not rest.connect_failures(), rest.ready
                out["rss_1000_clients_mb"] = settled_rss(pid)
                log(f"1000 clients: {out['rss_1000_clients_mb']} MB")
        out["kb_per_idle_connection"] = round(
            (out["rss_1000_clients_mb"] - out["rss_100_clients_mb"]) * 1024 / 900, 2
        )
        out["kb_per_idle_connection_first_100"] = round(
            (out["rss_100_clients_mb"] - out["rss_idle_mb"]) * 1024 / 100, 2
        )
        left = time.monotonic()
        out["rss_after_clients_left_mb"] = settled_rss(pid, 6.5)  # the service trims 5 s after the last client left
        log(f"after the clients left: {out['rss_after_clients_left_mb']} MB")
        time.sleep(max(0.0, 30.0 - (time.monotonic() - left)))
        out["rss_30s_after_clients_left_mb"] = round(h.rss_mb(pid), 2)
        out["rss_kept_30s_after_clients_left_mb"] = round(out["rss_30s_after_clients_left_mb"] - out["rss_idle_mb"], 2)
        log(f"30 s after the clients left: {out['rss_30s_after_clients_left_mb']} MB")

        samples = []
        with h.Workers(service, 100, 1, "get_camera_list", "{}", 0.0, True) as w:
            out["rss_before_requests_mb"] = settled_rss(pid, 0.5)
            served = 0
            while served < args.requests:
                r = w.run(args.step, warmup=0.0)
                served += r["requests"]
                if r["errors"] or r["timeouts"]:
                    raise RuntimeError(f"errors under load: {r}")
                samples.append({"requests": served, "rss_mb": round(h.rss_mb(pid), 2), "rps": r["rps"]})
                log(f"{served} requests: {samples[-1]['rss_mb']} MB ({r['rps']} req/s)")
            out["rss_after_requests_mb"] = settled_rss(pid, 0.5)
        out["requests"] = served
        out["rss_samples"] = samples
        first_step = samples[0]
        out["rss_growth_after_warmup_mb"] = round(out["rss_after_requests_mb"] - first_step["rss_mb"], 2)
        extra = served - first_step["requests"]
        out["bytes_per_request_after_warmup"] = (
            round(out["rss_growth_after_warmup_mb"] * 1024 * 1024 / extra, 3) if extra > 0 else None
        )
        out["rss_after_requests_idle_mb"] = settled_rss(pid, 1.0)
        if service.proc.poll() is not None:
            raise RuntimeError(f"camservice died: {service.log_text()[-2000:]}")

    with h.Service(max_connections=2000, cameras=16) as service:
        pid = service.pid
        out["rss_idle_16_cameras_mb"] = settled_rss(pid, 2.0)
        with h.Workers(service, 100, 1, auth=True):
            out["rss_16_cameras_100_clients_mb"] = settled_rss(pid)
        log(f"16 cameras: idle {out['rss_idle_16_cameras_mb']} MB, "
            f"100 clients {out['rss_16_cameras_100_clients_mb']} MB")

    with h.Service(max_connections=2000, tls=True) as service:
        pid = service.pid
        out["rss_idle_tls_mb"] = settled_rss(pid, 2.0)
        with h.Workers(service, 100, 1, auth=True) as w:
            assert w.connected == 100 and not w.connect_failures(), w.ready
            out["rss_100_tls_clients_mb"] = settled_rss(pid)
        log(f"TLS: idle {out['rss_idle_tls_mb']} MB, 100 clients {out['rss_100_tls_clients_mb']} MB")
    out["rss_idle_tls_delta_mb"] = round(out["rss_idle_tls_mb"] - out["rss_idle_mb"], 2)

    out["budgets"] = {"rss_idle_mb": 40, "rss_16_cameras_100_clients_mb": 100, "kb_per_idle_connection": 20,
                      "rss_kept_30s_after_clients_left_mb": 3}
    out["within_budget"] = {
        "rss_idle_mb": out["rss_idle_mb"] <= 40,
        "rss_16_cameras_100_clients_mb": out["rss_16_cameras_100_clients_mb"] < 100,
        "kb_per_idle_connection": out["kb_per_idle_connection"] <= 20,
        "rss_kept_30s_after_clients_left_mb": out["rss_kept_30s_after_clients_left_mb"] <= 3,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
