"""Reactor time one hostile message costs, against the hot path.

A viewer's single 64 KB ``subscribe_events`` with 32,000 bad topics, a
64 KB array in an unknown param, deep nesting (parsed by the installed
codec and by the stdlib fallback), and for comparison ``ping`` and
``get_camera_list`` with ``{}``: each handled by the real dispatcher and
method table (fake MediaMTX, a Clock), timed with ``perf_counter``.
Run from the repo root with the project's virtualenv Python (``--stdlib``:
with the stdlib JSON fallback instead of the installed C codec); the last
line is one JSON object, times in milliseconds per message.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import camservice

# the tests' harness of the checkout camservice is imported from
sys.path.insert(0, str(Path(camservice.__file__).resolve().parent.parent / "tests"))

import yaml  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from camservice.config import load_config  # noqa: E402
from helpers.harness import make_harness  # noqa: E402


def _time(fn, n: int) -> dict:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 4), "max_ms": round(samples[-1], 4)}


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="camservice-bench-"))
    path = folder / "camservice.yaml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(folder / "data"),
        "server": {"rate_limit": {"requests_per_second": 0}},
        "logging": {"level": "warn"},
    }))
    clock = Clock()
    clock.advance(1_700_000_000)
    harness = make_harness(load_config(path, environ={}), clock)
    viewer = harness.session("viewer")
    dispatcher = harness.dispatcher
    codec_name = getattr(sys.modules.get("camservice.codec"), "CODEC", "?")
    if "--stdlib" in sys.argv:
        codec_name = "json"
        if hasattr(dispatcher, "_loads"):
            from camservice.codec import codec

            dispatcher._loads, dispatcher._dumps = codec("json").loads, codec("json").dumps
        else:  # before the codec was chosen per dispatcher
            import camservice.rpc.dispatcher as module

            encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
            module.loads, module.dumps = json.loads, lambda o: encoder.encode(o).encode()

    def message(method, params, compact=True) -> bytes:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return json.dumps(body, separators=(",", ":") if compact else None).encode()

    bad_topics = message("subscribe_events", {"topics": [0] * 32_000})
    junk = message("get_camera_list", {"junk": [0] * 32_000})
    deep = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":' + b"[" * 30_000 + b"]" * 30_000 + b"}}"
    ping = message("ping", {})
    cameras = message("get_camera_list", {})
    assert len(bad_topics) <= 65_536 and len(junk) <= 65_536 and len(deep) <= 65_536
    replies = {name: json.loads(dispatcher.handle(viewer, payload))
               for name, payload in (("bad_topics", bad_topics), ("junk", junk), ("deep", deep), ("cameras", cameras))}
    assert "result" in replies["cameras"], replies["cameras"]
    out = {
        "bench": "hostile_params",
        "codec": codec_name,
        "bad_topics_64k": {**_time(lambda: dispatcher.handle(viewer, bad_topics), 20),
                           "code": replies["bad_topics"]["error"]["code"], "bytes": len(bad_topics)},
        "unknown_param_64k": {**_time(lambda: dispatcher.handle(viewer, junk), 20),
                              "code": replies["junk"]["error"]["code"]},
        "ping": _time(lambda: dispatcher.handle(viewer, ping), 5000),
        "get_camera_list": _time(lambda: dispatcher.handle(viewer, cameras), 2000),
    }
    out["deep_nesting_64k"] = {**_time(lambda: dispatcher.handle(viewer, deep), 20),
                               "code": replies["deep"]["error"]["code"]}
    harness.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
