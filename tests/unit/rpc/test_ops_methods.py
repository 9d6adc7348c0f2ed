"""get_recent_errors, and the resource figures of get_system_status and
get_metrics."""
from __future__ import annotations

from twisted.logger import Logger


def test_recent_errors_are_given_to_admins_newest_last(harness):
    ring = harness.tree.getServiceNamed("recent-errors")
    ring.startService()
    try:
        log = Logger(namespace="camservice.test")
        log.info("not an error")
        for n in range(3):
            log.error("failure {n} of rtsp://u:pw@192.0.2.1/x", n=n, camera_id="camera1000")
    finally:
        ring.stopService()
    admin = harness.session("admin")
    result = harness.call(admin, "get_recent_errors", {"limit": 2})["result"]
    assert [e["n"] for e in result["events"]] == [1, 2]
    assert result["events"][0]["message"] == "failure 1 of rtsp://***@192.0.2.1/x"
    assert result["events"][0]["camera_id"] == "camera1000"
    assert result["kept"] == 100 and result["total"] == 3
    everything = harness.call(admin, "get_recent_errors")["result"]
    assert len(everything["events"]) == 3
    bad = harness.call(admin, "get_recent_errors", {"limit": 0})
    assert bad["error"]["code"] == -32602 and bad["error"]["data"]["param"] == "limit"
    denied = harness.call(harness.session("operator"), "get_recent_errors")
    assert denied["error"]["code"] == -32002


def test_get_recent_errors_is_an_extension_of_1_2(harness):
    info = harness.call(harness.session("viewer"), "get_server_info")["result"]
    assert info["methods"]["get_recent_errors"] == "1.2"


def test_system_status_keeps_its_fields_and_adds_resources(harness):
    result = harness.call(harness.session("viewer"), "get_system_status")["result"]
    assert {"status", "message", "available_cameras", "discovery_active"} <= result.keys()
    r = result["resources"]
    assert r["memory_bytes"] > 1_000_000 and r["open_files"] > 0 and r["threads"] >= 1
    assert isinstance(r["children"], int)
    assert set(r) == {"cpu_usage", "memory_bytes", "open_files", "threads", "children",
                      "children_cpu_usage", "children_memory_bytes", "data_dir_bytes"}


def test_get_metrics_measures_the_data_dir(harness):
    data_dir = harness.config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "blob").write_bytes(b"x" * 1234)
    metrics = harness.call(harness.session("admin"), "get_metrics")["result"]["system_metrics"]
    assert metrics["data_dir_bytes"] >= 1234
    assert metrics["process_open_files"] > 0 and isinstance(metrics["children"], list)
    # get_system_status then reports the same measure
    status = harness.call(harness.session("viewer"), "get_system_status")["result"]
    assert status["resources"]["data_dir_bytes"] == metrics["data_dir_bytes"]
