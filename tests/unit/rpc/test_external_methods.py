"""Network cameras added at run time, through the dispatcher, with a fake
MediaMTX, a fake prober and the real persistence file."""
from __future__ import annotations

import json

import pytest

from camservice.config import load_config
from helpers.harness import make_harness

GATE = "rtsp://192.0.2.10:554/gate"
YARD = "rtsp://192.0.2.11:554/yard"
CAPS = {"codec": "h264", "width": 1280, "height": 720, "fps": 25.0}


@pytest.fixture
def make(write_config, clock, tmp_path):
    harnesses = []

    def make(candidates=(), scan_interval=0):
        config = load_config(write_config({
            "server": {"rate_limit": {"requests_per_second": 0}},
            "cameras": {"declared": []},
            "external_streams": {"candidates": list(candidates), "scan_interval": scan_interval},
        }))
        harness = make_harness(config, clock)
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        harness.stop()


def _store(harness) -> dict:
    return json.loads((harness.config.data_dir / "external-streams.json").read_text())


def test_add_probes_persists_and_streams(make):
    h = make()
    h.stream_probes[GATE] = CAPS
    operator = h.session("operator")
    added = h.call(operator, "add_external_stream", {"stream_url": GATE, "stream_name": "gate"})["result"]
    assert added["status"] == "ADDED" and added["stream_type"] == "rtsp" and added["device"] == "camera2000"
    camera = h.registry.get("camera2000")
    assert (camera.status.value, camera.resolution, camera.fps, camera.formats) == ("CONNECTED", "1280x720", 25, ("H264",))
    assert camera.validation_status.value == "CONFIRMED"
    assert h.mediamtx.configs["camera2000"]["source"] == GATE  # MediaMTX pulls it
    (stored,) = _store(h)["streams"]
    assert stored["url"] == GATE and stored["id"] == "camera2000" and stored["capabilities"] == CAPS
    assert (h.config.data_dir / "external-streams.json").stat().st_mode & 0o777 == 0o600


def test_unreachable_stream_is_added_in_error_with_the_reason(make):
    h = make()
    added = h.call(h.session("operator"), "add_external_stream", {"stream_url": YARD, "stream_name": "yard"})
    camera = h.registry.get(added["result"]["device"])
    assert camera.status.value == "ERROR" and camera.error == "connection refused"
    listed = h.call(h.session("viewer"), "get_external_streams")["result"]
    assert listed["total_count"] == 1
    assert listed["external_streams"][0]["status"] == "ERROR"
    assert listed["external_streams"][0]["error"] == "connection refused"
    assert "camera2000" in h.mediamtx.configs  # MediaMTX keeps trying on demand


def test_duplicates_and_unknown_urls(make):
    h = make()
    operator = h.session("operator")
    h.call(operator, "add_external_stream", {"stream_url": GATE, "stream_name": "gate"})
    again = h.call(operator, "add_external_stream", {"stream_url": GATE, "stream_name": "other"})
    assert again["error"]["code"] == -32020 and again["error"]["data"]["state"] == "already_added"
    same_name = h.call(operator, "add_external_stream", {"stream_url": YARD, "stream_name": "gate"})
    assert same_name["error"]["code"] == -32020
    missing = h.call(operator, "remove_external_stream", {"stream_url": YARD})
    assert missing["error"] == {"code": -32010, "message": "Not found",
                                "data": {"resource": "external_stream", "id": YARD,
                                         "reason": "no such stream was added"}}
    bad = h.call(operator, "add_external_stream", {"stream_url": "file:///etc/passwd", "stream_name": "x"})
    assert bad["error"]["code"] == -32602 and bad["error"]["data"]["param"] == "stream_url"


def test_remove_deletes_camera_path_and_record(make):
    h = make()
    operator = h.session("operator")
    h.call(operator, "add_external_stream", {"stream_url": GATE, "stream_name": "gate"})
    removed = h.call(operator, "remove_external_stream", {"stream_url": GATE})["result"]
    assert removed["status"] == "REMOVED" and removed["device"] == "camera2000"
    assert "camera2000" not in h.registry
    assert "camera2000" not in h.mediamtx.configs
    assert _store(h)["streams"] == []


def test_streams_come_back_after_a_restart(make, write_config, clock):
    first = make()
    first.stream_probes[GATE] = CAPS
    first.call(first.session("operator"), "add_external_stream", {"stream_url": GATE, "stream_name": "gate"})
    first.stop()
    again = make()  # same data_dir (write_config's temp folder)
    assert again.registry.get("camera2000").source == GATE
    assert again.registry.get("camera2000").name == "gate"


def test_newest_first_and_allow_list(make, clock):
    h = make()
    operator = h.session("operator")
    h.call(operator, "add_external_stream", {"stream_url": GATE, "stream_name": "gate"})
    clock.advance(5)
    h.call(operator, "add_external_stream", {"stream_url": YARD, "stream_name": "yard"})
    listed = h.call(h.session("viewer"), "get_external_streams")["result"]["external_streams"]
    assert [s["name"] for s in listed] == ["yard", "gate"]
    limited = h.call(h.session("viewer", cameras=["camera2000"]), "get_external_streams")["result"]
    assert [s["device"] for s in limited["external_streams"]] == ["camera2000"]


def test_discovery_without_candidates_is_unsupported(make):
    h = make()
    reply = h.call(h.session("operator"), "discover_external_streams")
    assert reply["error"]["code"] == -32030
    assert reply["error"]["data"]["feature"] == "external_stream_discovery"


def test_discovery_probes_only_the_candidates(make):
    h = make(candidates=[GATE, YARD])
    h.stream_probes[GATE] = CAPS
    found = h.call(h.session("operator"), "discover_external_streams")["result"]
    assert [s["url"] for s in found["discovered_streams"]] == [GATE]
    assert found["total_found"] == 1 and found["candidates"] == 2
    assert found["discovered_streams"][0]["capabilities"] == CAPS
    everything = h.call(h.session("operator"), "discover_external_streams", {"include_offline": True})["result"]
    offline = [s for s in everything["discovered_streams"] if s["status"] == "OFFLINE"]
    assert [s["url"] for s in offline] == [YARD] and offline[0]["error"] == "connection refused"


def test_set_discovery_interval_schedules_scans_and_is_kept(make, clock):
    h = make(candidates=[GATE])
    admin = h.session("admin")
    reply = h.call(admin, "set_discovery_interval", {"scan_interval": 60})["result"]
    assert reply["scan_interval"] == 60 and "60 s" in reply["message"]
    assert _store(h)["scan_interval"] == 60
    external = h.tree.getServiceNamed("external-streams")
    assert external.scanning is True
    h.stream_probes[GATE] = CAPS
    clock.advance(59.9)
    assert h.tree.getServiceNamed("external-streams").last_scan == []
    clock.advance(0.2)
    assert [s["url"] for s in h.tree.getServiceNamed("external-streams").last_scan] == [GATE]
    off = h.call(admin, "set_discovery_interval", {"scan_interval": 0})["result"]
    assert off["scan_interval"] == 0
    assert external.scanning is False
