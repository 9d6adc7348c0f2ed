"""The running service does not import jsonschema: not to build the service
tree, not to validate a configuration (good or bad), not to check a
request's params."""
from __future__ import annotations

from pathlib import Path

from helpers.twistd_probe import probe_built_service

# once makeService has built the tree, the probe loads configurations and
# dispatches requests through a service tree, then reports which of the
# watched modules the process holds
_HELD = """
    WATCH = ("jsonschema", "referencing", "rpds", "jsonschema_specifications", "pyrsistent")
    def held():
        return sorted(name for name in sys.modules if name.split(".")[0] in WATCH and sys.modules[name] is not None)
"""
_VALIDATE = """
    report["built"] = held()
    from camservice.config import ConfigError, load_config
    load_config(CONFIG)
    try:
        load_config(CONFIG, text="server:\\n  port: x\\n  nonsense: 1\\ncameras:\\n  declared: [{kind: virtual, url: x}]\\n")
    except ConfigError as e:
        report["problems"] = [p.key for p in e.problems]
    sys.path.insert(0, ARGS["tests"])
    from twisted.internet.task import Clock
    from helpers.harness import make_harness
    clock = Clock()
    clock.advance(1_700_000_000)
    harness = make_harness(load_config(CONFIG), clock)
    session = harness.session("viewer")
    report["replies"] = [
        harness.call(session, "get_camera_status", {"device": "camera1000\\n"})["error"]["data"]["rule"],
        harness.call(session, "list_recordings", {"limit": 10, "offset": 0}).get("error"),
    ]
    harness.stop()
    report["validated"] = held()
"""


def test_the_service_validates_without_jsonschema(write_config):
    config = write_config({"discovery": {"mode": "disabled"}})
    tests = Path(__file__).resolve().parents[2]
    report = probe_built_service(config, _VALIDATE, before=_HELD, args={"tests": str(tests)})
    # the probe did validate: a bad configuration and bad params were refused
    assert "server.nonsense" in report["problems"] and "server.port" in report["problems"]
    assert report["replies"] == ["must match the pattern ^camera[0-9]+$", None]
    assert report["built"] == [] and report["validated"] == []
