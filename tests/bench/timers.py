"""The longest reactor turn when Autobahn's timers of many connections fall due together.

    .venv/bin/python tests/bench/timers.py [--connections 1000] [--chunks 10,1000]

Opens ``--connections`` WebSocket connections at once (the service's
adapter, :mod:`camservice.server.ws_adapter`, over in-memory transports,
auto-ping every second) and runs the real reactor for 2.5 s, so that every
connection's auto-ping falls due in the same 200 ms bucket. Reports the
longest reactor turn in CPU time of this thread (``time.thread_time``,
so other processes on the machine do not count), once per chunk size:
the shipped :data:`~camservice.server.ws_adapter.TIMER_CHUNK` and
Autobahn's own 1000. Every reply waiting while such a turn runs waits
that long: it bounds the open-loop maximum latency from below.

Prints one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Run in a fresh interpreter per chunk size: argv[1] chunk, argv[2] connections.
_CHILD = r"""
import base64, json, os, sys, time
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
import camservice.server.ws_adapter as adapter

adapter.TIMER_CHUNK = int(sys.argv[1])

class Quiet(adapter.WebSocketServerProtocol):
    def onMessage(self, payload, isBinary):
        pass

class Producer:
    def pauseProducing(self): pass
    def resumeProducing(self): pass
    def stopProducing(self): pass

factory = adapter.WebSocketServerFactory("ws://127.0.0.1:8002", reactor=reactor)
factory.protocol = Quiet
factory.setProtocolOptions(autoPingInterval=1, autoPingTimeout=10)
peer = IPv4Address("TCP", "127.0.0.1", 40000)
protos = []
for _ in range(int(sys.argv[2])):
    proto = factory.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    transport.registerProducer(Producer(), True)
    proto.makeConnection(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    proto.dataReceived(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8002\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                        "\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    protos.append(proto)
run = reactor.runUntilCurrent
turns = []
def timed():
    start = time.thread_time()
    run()
    turns.append(time.thread_time() - start)
reactor.runUntilCurrent = timed
reactor.callLater(2.5, reactor.stop)
reactor.run()
print(json.dumps({"chunk": adapter.TIMER_CHUNK, "pinged": sum(1 for p in protos if p.autoPingPending),
                  "longest_turn_cpu_ms": round(max(turns) * 1e3, 2)}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--chunks", default=None, help="chunk sizes (default: the shipped one and 1000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per chunk size, the median is kept")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from camservice.server.ws_adapter import TIMER_CHUNK

    chunks = [int(c) for c in args.chunks.split(",")] if args.chunks else [TIMER_CHUNK, 1000]
    out = {"bench": "timers", "connections": args.connections, "shipped_chunk": TIMER_CHUNK, "runs": []}
    for chunk in chunks:
        results = []
        for _ in range(args.repeat):
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(chunk), str(args.connections)],
                                  cwd=str(ROOT), capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        results.sort(key=lambda r: r["longest_turn_cpu_ms"])
        middle = results[len(results) // 2]
        print(f"chunk {chunk}: {middle['pinged']} pinged, longest turn {middle['longest_turn_cpu_ms']} ms CPU",
              file=sys.stderr, flush=True)
        out["runs"].append(middle)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
