"""A recording whose disk fills up (a tmpfs of a few MB mounted by the
test): finalizing fails cleanly, with FFmpeg's reason, no partial file is
ever visible in the recordings folder, and the file is made once the
storage is fine again."""
from __future__ import annotations

import errno
import os
import subprocess

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from helpers.processes import run


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def service_settings(small_disk):
    return {"media": {"recordings_dir": str(small_disk / "recordings")},
            "mediamtx": {"on_demand_close_after": 2}}


def _fill(folder) -> None:
    """Write a file until the filesystem is full."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC


@pytest_twisted.ensureDeferred
async def test_a_full_disk_fails_the_file_cleanly_and_shows_nothing_partial(live, small_disk):
    client = await live.authed_client("operator")
    started = (await client.call("start_recording", {"device": "camera1000", "format": "mp4"}))["result"]
    await task.deferLater(reactor, 2.5, lambda: None)
    _fill(small_disk)
    await task.deferLater(reactor, 1.0, lambda: None)
    stopped = await client.call("stop_recording", {"device": "camera1000"})
    assert stopped["error"]["code"] == -32050, stopped
    assert stopped["error"]["data"]["dependency"] == "ffmpeg"
    assert "No space left on device" in stopped["error"]["data"]["detail"]
    folder = small_disk / "recordings"
    assert sorted(os.listdir(folder)) == [".parts"]  # no file, whole or partial
    assert list((folder / ".parts").iterdir()), "the segments are kept for a later try"
    admin = await live.authed_client("admin")
    metrics = (await admin.call("get_metrics"))["result"]["recording_metrics"]
    assert metrics["failed"] == 1 and metrics["finalizing"] == 1
    assert started["filename"] not in os.listdir(folder)

    # the storage monitor says the disk is critical, then, space freed, fine
    live.tree.bus.publish("system.health", component="storage", status="critical", detail="100% used")
    (small_disk / "filler").unlink()
    live.tree.bus.publish("system.health", component="storage", status="ok", detail="5% used")

    async def made():
        return (folder / started["filename"]).exists()

    deadline = reactor.seconds() + 20
    while not await made():
        assert reactor.seconds() < deadline, "the file was not made again"
        await task.deferLater(reactor, 0.1, lambda: None)
    code, _out, err = await run(reactor, ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i",
                                          str(folder / started["filename"]), "-f", "null", "-"])
    assert code == 0 and not err.strip(), err
    assert sorted(os.listdir(folder)) == sorted([".parts", started["filename"]])
    await admin.close()
    await client.close()
