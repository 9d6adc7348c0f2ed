"""A small real filesystem (a 4 MB tmpfs) filling up under a running
service: low_space_warning and a system.health event at the warn
threshold, storage_critical (check_writable refused, -32020's data) at
the block threshold, back to ok once files are deleted."""
from __future__ import annotations

import os
import subprocess

import pytest
import pytest_twisted

from camservice.media.errors import StorageCritical
from camservice.rpc.errors import to_rpc_error
from helpers.waiting import until

MB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs mounted for the test (needs root), unmounted after."""
    where = tmp_path / "media"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def service_settings(small_disk):
    return {"media": {
        "recordings_dir": str(small_disk / "recordings"),
        "snapshots_dir": str(small_disk / "snapshots"),
        "storage": {"warn_percent": 50, "block_percent": 90, "min_free_mb": 0, "check_interval": 0.2},
    }}


def _fill(path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    with open(tmp, "wb") as f:
        f.write(b"\0" * size)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


@pytest_twisted.ensureDeferred
async def test_a_filling_disk_warns_then_blocks_then_recovers(live, small_disk):
    storage = live.tree.storage
    health = []
    live.tree.bus.subscribe(lambda e: health.append(e.data) if e.topic == "system.health"
                            and e.data.get("component") == "storage" else None)
    client = await live.authed_client("admin")
    assert (await client.call("subscribe_events", {"topics": ["system.health"]}))["result"]["subscribed"]
    info = (await client.call("get_storage_info"))["result"]
    assert info["total_space"] == 4 * MB and info["low_space_warning"] is False
    await storage.check_writable()  # room: fires

    _fill(small_disk / "recordings" / "camera1000_a.mp4", int(2.5 * MB))
    await live.tree.media_files.added("recordings", "camera1000_a.mp4", "camera1000")
    await until(lambda: storage.state == "low")
    info = (await client.call("get_storage_info"))["result"]
    assert info["low_space_warning"] is True and 55 < info["usage_percentage"] < 70
    assert info["recordings_size"] == int(2.5 * MB)
    await storage.check_writable()  # low is still writable
    note = await client.notifications.get()
    assert note["method"] == "event"
    assert (note["params"]["topic"], note["params"]["component"], note["params"]["status"]) == (
        "system.health", "storage", "low")

    _fill(small_disk / "snapshots" / "camera1000_b.jpg", int(1.3 * MB))
    await until(lambda: storage.critical)
    try:
        await storage.check_writable()
    except StorageCritical as e:
        error = to_rpc_error(e).to_json()
    else:
        raise AssertionError("check_writable let a write through on a full disk")
    assert error["code"] == -32020 and error["data"]["state"] == "storage_critical"
    assert "% used" in error["data"]["detail"]
    assert [h["status"] for h in health] == ["low", "critical"]
    note = await client.notifications.get()
    assert note["params"]["status"] == "critical" and note["params"]["previous"] == "low"
    info = (await client.call("get_storage_info"))["result"]
    assert info["low_space_warning"] is True and info["usage_percentage"] >= 90

    deleted = await client.call("delete_recording", {"filename": "camera1000_a.mp4"})
    assert deleted["result"]["deleted"] is True
    await until(lambda: storage.state == "ok")
    await storage.check_writable()
    assert health[-1]["status"] == "ok"
    await client.close()
