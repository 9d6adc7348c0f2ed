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


# -- credentials stay secret ---------------------------------------------------

SECRET_URL = "rtsp://admin:Secr3tPw@192.0.2.20:554/door"
REDACTED = "rtsp://***@192.0.2.20:554/door"


def test_urls_are_redacted_for_everyone_but_an_admin_who_asks(make, log_events):
    audit = log_events("camservice.audit")
    h = make()
    added = h.call(h.session("operator"), "add_external_stream", {"stream_url": SECRET_URL, "stream_name": "door"})
    assert added["result"]["stream_url"] == REDACTED
    for role in ("viewer", "operator", "admin"):
        listed = h.call(h.session(role), "get_external_streams")["result"]["external_streams"]
        assert [s["url"] for s in listed] == [REDACTED]
    shown = h.call(h.session("admin"), "get_external_streams", {"show_credentials": True})["result"]
    assert [s["url"] for s in shown["external_streams"]] == [SECRET_URL]
    (reveal,) = [e for e in audit if e.get("what") == "show_stream_credentials"]
    assert (reveal["audit"], reveal["outcome"], reveal["who"]) == (True, "success", "tester")
    denied = h.call(h.session("operator"), "get_external_streams", {"show_credentials": True})
    assert denied["error"]["code"] == -32002 and denied["error"]["data"]["required_role"] == "admin"
    assert not any("Secr3tPw" in json.dumps(e, default=str) for e in audit)


def test_a_stream_can_be_removed_by_its_redacted_url(make):
    h = make()
    operator = h.session("operator")
    h.call(operator, "add_external_stream", {"stream_url": SECRET_URL, "stream_name": "door"})
    removed = h.call(operator, "remove_external_stream", {"stream_url": REDACTED})["result"]
    assert (removed["status"], removed["stream_url"], removed["device"]) == ("REMOVED", REDACTED, "camera2000")
    assert _store(h)["streams"] == []


def test_a_redacted_url_standing_for_two_streams_is_refused(make):
    h = make()
    operator = h.session("operator")
    h.call(operator, "add_external_stream", {"stream_url": SECRET_URL, "stream_name": "door"})
    h.call(operator, "add_external_stream", {"stream_url": SECRET_URL.replace("Secr3tPw", "other"), "stream_name": "d2"})
    reply = h.call(operator, "remove_external_stream", {"stream_url": REDACTED})
    assert reply["error"]["code"] == -32602
    assert reply["error"]["data"]["rule"] == "matches more than one added stream once redacted"
    # the full URL still names one
    assert h.call(operator, "remove_external_stream", {"stream_url": SECRET_URL})["result"]["device"] == "camera2000"


def test_unknown_stream_error_does_not_echo_credentials(make):
    h = make()
    reply = h.call(h.session("operator"), "remove_external_stream", {"stream_url": SECRET_URL})
    assert reply["error"]["data"]["id"] == REDACTED


def test_nothing_logged_holds_the_password(make, log_events):
    events = log_events("camservice")
    h = make(candidates=[SECRET_URL])
    operator = h.session("operator")
    h.call(operator, "add_external_stream", {"stream_url": SECRET_URL, "stream_name": "door"})
    found = h.call(operator, "discover_external_streams", {"include_offline": True})["result"]
    assert [s["url"] for s in found["discovered_streams"]] == [REDACTED]
    h.call(operator, "remove_external_stream", {"stream_url": SECRET_URL})
    assert events
    assert not any("Secr3tPw" in json.dumps(e, default=str) for e in events)


# -- streams kept by an older version that break today's rules -----------------

def test_bad_persisted_urls_are_kept_out_of_mediamtx_and_listed_in_error(make, write_config, log_events):
    events = log_events("camservice.cameras.external")
    first = make()
    store = first.config.data_dir / "external-streams.json"
    first.stop()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps({"version": 1, "scan_interval": 0, "streams": [
        {"id": "camera2000", "url": "rtsp://u:Secr3tPw@192.0.2.10:554/x\n", "name": "newline", "type": "rtsp",
         "added_at": 1.0},
        {"id": "camera2001", "url": "rtsp://192.0.2.10:554/%zz", "name": "escape", "type": "rtsp", "added_at": 2.0},
        {"id": "camera2002", "url": "rtsp://127.0.0.1:9997/v3", "name": "inside", "type": "rtsp", "added_at": 3.0},
        {"id": "camera2003", "url": GATE, "name": "gate", "type": "rtsp", "added_at": 4.0},
        {"id": "broken"},
    ]}))
    h = make()
    assert [c.id for c in h.registry.cameras() if c.id.startswith("camera20")] == ["camera2003"]
    assert h.controller.reconcile().called
    assert sorted(n for n in h.mediamtx.configs if n.startswith("camera20")) == ["camera2003"]
    listed = {s["name"]: s for s in h.call(h.session("viewer"), "get_external_streams")["result"]["external_streams"]}
    assert listed["newline"]["status"] == "ERROR"
    assert listed["newline"]["error"] == "refused: the stream URL must not contain whitespace, control or non-ASCII characters"
    assert listed["escape"]["error"].startswith("refused: the stream URL has an invalid percent escape")
    # MediaMTX's own Control API
    assert listed["inside"]["error"] == "refused: the stream URL must not point at one of camservice's own ports"
    assert listed["gate"]["status"] == "CONNECTED"
    refused = [e for e in events if e.get("rule")]
    assert [e["camera_id"] for e in refused] == ["camera2000", "camera2001", "camera2002"]
    assert not any("Secr3tPw" in json.dumps(e, default=str) for e in events)
    # an operator can remove them (by the redacted URL viewers see)
    removed = h.call(h.session("operator"), "remove_external_stream", {"stream_url": listed["newline"]["url"]})
    assert removed["result"]["device"] == "camera2000"
