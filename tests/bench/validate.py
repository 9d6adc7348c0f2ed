"""The cost of schema validation: params as the dispatcher checks them, and
the configuration as the loader checks it.

    .venv/bin/python tests/bench/validate.py [--number 20000]

For each case, the microseconds of one validation, taking the first error
and putting it into words as the dispatcher does (best of 5 timeit
repeats). Prints one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

#: (name, method, params)
CASES = [
    ("get_camera_list {}", "get_camera_list", {}),
    ("get_camera_status device", "get_camera_status", {"device": "camera1000"}),
    ("take_snapshot device+filename", "take_snapshot", {"device": "camera1000", "filename": "front-door"}),
    ("start_recording 3 params", "start_recording", {"device": "camera1000", "duration": 60, "format": "mp4"}),
    ("subscribe_events topics", "subscribe_events", {"topics": ["camera.connected", "recording.start"]}),
    ("bad: device with newline", "get_camera_status", {"device": "camera1000\n"}),
    ("bad: limit out of range", "list_recordings", {"limit": 5000}),
    ("bad: unknown param", "take_snapshot", {"device": "camera1000", "colour": "red"}),
]


def _describe():
    try:
        from camservice.schema import describe
    except ImportError:  # before camservice.schema
        from camservice.schema_errors import describe
    return describe


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--number", type=int, default=20000, help="validations per timeit repeat")
    args = ap.parse_args(argv)
    from twisted.internet.task import Clock

    from camservice.config import load_config
    from camservice.config import loader
    from helpers.harness import make_harness

    describe = _describe()
    clock = Clock()
    clock.advance(1_700_000_000)
    config = load_config(environ={}, euid=1000)
    harness = make_harness(config, clock)
    harness.stop()
    table = harness.dispatcher.table
    out = {}
    for name, method, params in CASES:
        validator = table.get(method).validator

        def once(validator=validator, params=params):
            for error in validator.iter_errors(params):
                return describe(error)

        once()
        best = min(timeit.repeat(once, number=args.number, repeat=5))
        out[name] = round(best / args.number * 1e6, 3)
        print(f"  {name:<32} {out[name]:8.3f} us", file=sys.stderr)
    import yaml

    document = yaml.safe_load(loader.default_config_path().read_text("utf-8"))
    loader._fill_defaults(document, loader.schema())
    config_validator = loader._validator()

    def config_once():
        return list(config_validator.iter_errors(document))

    assert not config_once()
    best = min(timeit.repeat(config_once, number=200, repeat=5))
    out["configuration (packaged default)"] = round(best / 200 * 1e6, 1)
    print(f"  {'configuration (packaged default)':<32} {out['configuration (packaged default)']:8.1f} us",
          file=sys.stderr)
    print(json.dumps({"bench": "validate", "python": sys.executable, "us_per_validation": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
