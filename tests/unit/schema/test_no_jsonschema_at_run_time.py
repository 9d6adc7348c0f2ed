"""The running service does not import jsonschema: not to build the service
tree, not to validate a configuration (good or bad), not to check a
request's params."""
from __future__ import annotations

import json
import subprocess
import sys

# Runs twistd camservice as a user does; once makeService has built the
# service tree it loads configurations and dispatches requests through a
# service tree, then reports which of the watched modules the process
# holds, and exits before anything starts.
_PROBE = r"""
import json, os, sys
import camservice.tap as tap
CONFIG, TESTS = sys.argv[1], sys.argv[2]
WATCH = ("jsonschema", "referencing", "rpds", "jsonschema_specifications", "pyrsistent")
def held():
    return sorted(name for name in sys.modules if name.split(".")[0] in WATCH and sys.modules[name] is not None)
build = tap.makeService
def probe(options):
    build(options)
    report = {"built": held()}
    from camservice.config import ConfigError, load_config
    load_config(CONFIG)
    try:
        load_config(CONFIG, text="server:\n  port: x\n  nonsense: 1\ncameras:\n  declared: [{kind: virtual, url: x}]\n")
    except ConfigError as e:
        report["problems"] = [p.key for p in e.problems]
    sys.path.insert(0, TESTS)
    from twisted.internet.task import Clock
    from helpers.harness import make_harness
    clock = Clock()
    clock.advance(1_700_000_000)
    harness = make_harness(load_config(CONFIG), clock)
    session = harness.session("viewer")
    report["replies"] = [
        harness.call(session, "get_camera_status", {"device": "camera1000\n"})["error"]["data"]["rule"],
        harness.call(session, "list_recordings", {"limit": 10, "offset": 0}).get("error"),
    ]
    harness.stop()
    report["validated"] = held()
    print("REPORT " + json.dumps(report), flush=True)
    os._exit(0)
tap.makeService = probe
from twisted.scripts.twistd import run
sys.argv = ["twistd", "-n", "--pidfile=", "camservice", "--config", CONFIG]
run()
"""


def test_the_service_validates_without_jsonschema(write_config):
    from pathlib import Path

    config = write_config({"discovery": {"mode": "disabled"}})
    tests = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", _PROBE, str(config), str(tests)],
                         cwd=str(config.parent), capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, f"twistd did not build the service: {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    report = json.loads(lines[-1][len("REPORT "):])
    # the probe did validate: a bad configuration and bad params were refused
    assert "server.nonsense" in report["problems"] and "server.port" in report["problems"]
    assert report["replies"] == ["must match the pattern ^camera[0-9]+$", None]
    assert report["built"] == [] and report["validated"] == []
