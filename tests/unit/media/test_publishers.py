"""Finding a camera's publishers by the publish URL on their command line."""
from __future__ import annotations

import os

from camservice.media.publishers import publisher_pids

URL = "rtsp://127.0.0.1:8554/camera1000"


def fake_proc(tmp_path, processes):
    for pid, argv in processes.items():
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (tmp_path / "self").mkdir()
    return tmp_path


def test_the_publisher_is_found_by_its_url_with_or_without_a_token(tmp_path):
    proc = fake_proc(tmp_path, {
        10: ["ffmpeg", "-f", "lavfi", "-i", "testsrc2", "-f", "rtsp", URL + "?token=p1-abc"],
        11: ["ffmpeg", "-f", "v4l2", "-i", "/dev/video0", "-f", "rtsp", URL],
        12: ["ffmpeg", "-f", "rtsp", URL + "0"],  # camera10000: another camera
        13: ["ffmpeg", "-i", URL + "?camservice=hold", "-f", "null", "-"],  # a reader
        14: ["sleep", "100"],
    })
    assert publisher_pids(URL, proc) == [10, 11]


def test_other_users_processes_are_not_ours(tmp_path):
    proc = fake_proc(tmp_path, {20: ["ffmpeg", "-f", "rtsp", URL]})
    os.chown(proc / "20", os.geteuid() + 1, -1)
    assert publisher_pids(URL, proc) == []


def test_a_process_that_exits_meanwhile_is_skipped(tmp_path):
    proc = fake_proc(tmp_path, {30: ["ffmpeg", "-f", "rtsp", URL]})
    (proc / "31").mkdir()  # no cmdline: gone between listing and reading
    assert publisher_pids(URL, proc) == [30]
