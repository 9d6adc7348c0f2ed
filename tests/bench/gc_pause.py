"""How long a full pass of the cycle collector stops the reactor with many
clients connected, and what a closed connection leaves for it.

    .venv/bin/python tests/bench/gc_pause.py [--connections 1000]

Builds the service's tree on a fake clock (the unit tests' harness: real
site, WebSocket protocol, dispatcher and session table; nothing listens),
freezes what exists as the service does once started, then opens
``--connections`` authenticated WebSocket connections over in-memory
transports and reports, in CPU time of this thread (``time.thread_time``,
so other processes do not count; the median of 5):

- ``tracked_per_connection``: objects the collector tracks per open connection;
- ``full_pass_ms``: one full collection (``gc.collect()``) with them open;
- ``full_pass_after_freeze_ms``: the same once the burst has settled and
  :class:`camservice.ops.collector.CollectorSchedule` has frozen it;
- ``garbage_per_closed_connection``: objects only the collector could free
  after every connection closed (reference cycles; 0 is the aim).

Prints one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))


def _median_ms(f, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.thread_time()
        f()
        times.append(time.thread_time() - t0)
    times.sort()
    return round(times[len(times) // 2] * 1e3, 2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=1000)
    args = ap.parse_args(argv)
    n = args.connections

    import yaml
    from twisted.internet.address import IPv4Address
    from twisted.internet.error import ConnectionDone
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport
    from twisted.logger import globalLogBeginner, globalLogPublisher
    from twisted.python.failure import Failure

    from camservice.config import load_config
    from camservice.ops.collector import CollectorSchedule
    from helpers.harness import make_harness
    from helpers.wsframes import client_frame

    folder = tempfile.mkdtemp(prefix="camservice-gc-")
    path = os.path.join(folder, "camservice.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"version": 1, "data_dir": folder + "/data",
                        "server": {"max_connections": n + 10, "max_connections_per_address": n + 10}}, f)
    clock = Clock()
    clock.advance(1.7e9)
    harness = make_harness(load_config(path), clock)
    api = harness.tree.getServiceNamed("api")
    site, factory = api.site, api.factory
    factory.collector = CollectorSchedule(clock)
    token = harness.token("viewer")
    # events are buffered until logging begins, and they hold their sources
    buffer = getattr(globalLogBeginner, "_temporaryObserver", None)
    if buffer is not None:
        globalLogPublisher.removeObserver(buffer)
    peer = IPv4Address("TCP", "127.0.0.1", 40000)

    def connect():
        channel = site.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer)
        transport.protocol = channel
        channel.makeConnection(transport)
        key = base64.b64encode(os.urandom(16)).decode()
        channel.dataReceived((
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        proto = transport.protocol
        request = {"jsonrpc": "2.0", "id": 1, "method": "authenticate", "params": {"auth_token": token}}
        proto.dataReceived(client_frame(json.dumps(request).encode()))
        proto.dataReceived(client_frame(b'{"jsonrpc":"2.0","id":2,"method":"ping"}'))
        transport.clear()
        return proto, transport

    gc.collect()
    gc.freeze()  # as the service does once started
    base = len(gc.get_objects())
    open_ = [connect() for _ in range(n)]
    gc.collect()
    tracked = (len(gc.get_objects()) - base) / n
    full = _median_ms(gc.collect)
    clock.advance(3)  # the burst settles: frozen
    frozen = factory.collector.pending is None and gc.get_freeze_count() > 0
    after_freeze = _median_ms(gc.collect)
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.disable()
    for proto, transport in open_:
        proto.connectionLost(Failure(ConnectionDone()))
        transport.protocol = transport.producer = None  # as a TCP transport does
    del open_, proto, transport
    garbage = gc.collect()
    gc.enable()
    out = {
        "bench": "gc_pause", "connections": n, "python": sys.version.split()[0],
        "tracked_per_connection": round(tracked, 1), "full_pass_ms": full,
        "frozen_after_burst": frozen, "full_pass_after_freeze_ms": after_freeze,
        "garbage_per_closed_connection": round(garbage / n, 2),
    }
    factory.collector.stop()
    harness.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
