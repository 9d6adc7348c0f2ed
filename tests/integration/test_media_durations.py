"""get_recording_info's duration: read by the real ffprobe once per file
version, then from the cache; a changed file is read again."""
from __future__ import annotations

import os

import pytest
import pytest_twisted
from twisted.internet import reactor

from camservice.procutil import run_checked


@pytest.fixture
def counted_ffprobe(tmp_path):
    """ffprobe itself, behind a script that counts its runs."""
    count = tmp_path / "ffprobe-runs"
    script = tmp_path / "ffprobe"
    script.write_text(f'#!/bin/sh\necho run >> "{count}"\nexec ffprobe "$@"\n')
    script.chmod(0o755)
    return script, count


@pytest.fixture
def service_settings(counted_ffprobe):
    return {"external_streams": {"ffprobe": str(counted_ffprobe[0])}}


async def _video(path, seconds: int):
    tmp = path.parent / f".{path.name}.tmp.mp4"
    await run_checked(reactor, ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                                f"testsrc=size=160x120:rate=10:duration={seconds}",
                                "-c:v", "mpeg4", "-f", "mp4", str(tmp)], 30)
    os.replace(tmp, path)


@pytest_twisted.ensureDeferred
async def test_duration_is_probed_once_per_file_version(live, counted_ffprobe):
    _script, count = counted_ffprobe
    rec = live.config.media.recordings_dir
    rec.mkdir(parents=True, exist_ok=True)
    clip = rec / "camera1000_clip.mp4"
    await _video(clip, 2)
    client = await live.authed_client("viewer")
    for _ in range(3):
        info = (await client.call("get_recording_info", {"filename": "camera1000_clip.mp4"}))["result"]
        assert info["duration"] == 2
    assert count.read_text().count("run") == 1
    # the file replaced by a longer one (the rescan sees a new size and mtime)
    await _video(clip, 4)
    await live.tree.media_files.rescan()
    info = (await client.call("get_recording_info", {"filename": "camera1000_clip.mp4"}))["result"]
    assert info["duration"] == 4
    assert count.read_text().count("run") == 2
    await client.close()
