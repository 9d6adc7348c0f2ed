"""The log file: size- and time-based rotation, gzip, caps, and the writer
threads (nothing lost at stop, nothing written on the caller's thread)."""
from __future__ import annotations

import gzip
import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.logger import Logger, LogPublisher

from camservice.config.model import LoggingConfig
from camservice.ops.logfile import LogFileService, LogFileWriter, RotatingFile, rotated_files

DAY = 86400.0
NOON = 1_700_049_600.0  # 2023-11-15 12:00:00 UTC


def _config(path, **kw) -> LoggingConfig:
    base = dict(level="info", format="json", file=path, max_size=1000, rotate_interval=0,
                keep=100, total_size=10_000_000, compress=True)
    base.update(kw)
    return LoggingConfig(**base)


class _Now:
    def __init__(self, t=NOON):
        self.t = t

    def __call__(self):
        return self.t


def _lines(n, start=0, width=90) -> list[bytes]:
    return [json.dumps({"n": i, "pad": "x" * width}).encode() + b"\n" for i in range(start, start + n)]


def _read_all(path: Path) -> list[dict]:
    """Every record in the rotated files (oldest first) and the live one."""
    records = []
    for p in rotated_files(path) + [path]:
        data = gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
        records += [json.loads(line) for line in data.splitlines()]
    return records


def test_size_rotation_compresses_and_keeps_every_line(tmp_path):
    path = tmp_path / "logs" / "camservice.log"
    now = _Now()
    f = RotatingFile(path, _config(path), now=now)
    for i, line in enumerate(_lines(50)):
        now.t += 1  # distinct names
        f.write(line)
    f.close()
    rotated = rotated_files(path)
    assert len(rotated) >= 4
    assert all(p.name.endswith(".gz") for p in rotated)
    # each file under the limit; nothing lost, in order
    assert all(len(gzip.decompress(p.read_bytes())) <= 1000 for p in rotated)
    assert path.stat().st_size <= 1000
    assert [r["n"] for r in _read_all(path)] == list(range(50))
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o750"


def test_a_line_exactly_at_the_limit_does_not_rotate(tmp_path):
    path = tmp_path / "x.log"
    f = RotatingFile(path, _config(path, max_size=200, compress=False), now=_Now())
    f.write(b"a" * 99 + b"\n")
    f.write(b"b" * 99 + b"\n")  # 200: at the limit
    assert rotated_files(path) == []
    f.write(b"c\n")  # past it
    assert len(rotated_files(path)) == 1
    f.flush()
    assert path.read_bytes() == b"c\n"
    f.close()


def test_uncompressed_rotation_when_compress_is_off(tmp_path):
    path = tmp_path / "x.log"
    f = RotatingFile(path, _config(path, compress=False), now=_Now())
    for line in _lines(20):
        f.write(line)
    f.close()
    rotated = rotated_files(path)
    assert rotated and not any(p.name.endswith(".gz") for p in rotated)
    # the same second twice: a numbered name, never an overwrite
    assert any(p.name.endswith("-1") for p in rotated)
    assert [r["n"] for r in _read_all(path)] == list(range(20))


def test_the_total_cap_deletes_the_oldest_rotated_files(tmp_path):
    path = tmp_path / "x.log"
    now = _Now()
    cap = 3000
    f = RotatingFile(path, _config(path, compress=False, total_size=cap), now=now)
    rotations = 0
    for line in _lines(200):
        now.t += 1
        before = rotated_files(path)
        f.write(line)
        f.flush()
        total = sum(p.stat().st_size for p in rotated_files(path)) + path.stat().st_size
        if rotated_files(path) != before:
            rotations += 1
            assert total - len(line) <= cap  # when the rotation ended
        assert total <= cap + 1000  # the live file grows up to max_size between them
    f.close()
    assert rotations > 10
    kept = [r["n"] for r in _read_all(path)]
    # the newest lines stay, contiguous up to the last
    assert kept == list(range(kept[0], 200)) and kept[0] > 0


def test_keep_bounds_the_number_of_rotated_files(tmp_path):
    path = tmp_path / "x.log"
    now = _Now()
    f = RotatingFile(path, _config(path, keep=2), now=now)
    for line in _lines(100):
        now.t += 1
        f.write(line)
    f.close()
    assert len(rotated_files(path)) == 2


def test_time_rotation_at_the_utc_boundary_driven_by_the_clock(tmp_path):
    path = tmp_path / "x.log"
    now = _Now(NOON)
    f = RotatingFile(path, _config(path, max_size=0, rotate_interval=int(DAY), compress=False), now=now)
    f.write(b"one\n")
    midnight = (NOON // DAY + 1) * DAY
    now.t = midnight - 0.001
    f.write(b"two\n")
    assert rotated_files(path) == []
    now.t = midnight + 0.001
    f.write(b"three\n")
    (rotated,) = rotated_files(path)
    assert rotated.read_bytes() == b"one\ntwo\n"
    assert rotated.name == "x.log.20231116T000000Z"
    f.flush()
    assert path.read_bytes() == b"three\n"
    # the next boundary is a day later, not at once
    now.t = midnight + DAY - 1
    f.write(b"four\n")
    assert len(rotated_files(path)) == 1
    f.close()


def test_a_file_left_by_the_last_run_rotates_by_its_age(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(b"old\n")
    yesterday = NOON - DAY
    os.utime(path, (yesterday, yesterday))
    f = RotatingFile(path, _config(path, max_size=0, rotate_interval=int(DAY), compress=False), now=_Now(NOON))
    f.write(b"new\n")
    (rotated,) = rotated_files(path)
    assert rotated.read_bytes() == b"old\n"
    f.flush()
    assert path.read_bytes() == b"new\n"
    f.close()


def test_new_limits_apply_to_the_next_line(tmp_path):
    path = tmp_path / "x.log"
    config = _config(path, max_size=0, compress=False)
    f = RotatingFile(path, config, now=_Now())
    f.write(b"a" * 500 + b"\n")
    f.configure(replace(config, max_size=100))
    f.write(b"b\n")
    assert len(rotated_files(path)) == 1
    f.close()


def test_the_writer_compresses_in_its_own_thread_and_loses_nothing_at_stop(tmp_path):
    path = tmp_path / "x.log"
    now = _Now()
    writer = LogFileWriter(path, _config(path, max_size=500), now=now)
    caller = threading.current_thread()
    seen_threads = set()
    real_finish = writer.file.finish_rotation

    def finish(rotated):
        seen_threads.add(threading.current_thread().name)
        real_finish(rotated)

    writer.file.finish_rotation = finish
    writer.write_line("before start")  # queued: twistd may still fork
    assert not path.exists()
    writer.start()
    for i in range(300):
        now.t += 0.01
        writer.write_line(json.dumps({"n": i}))
    done = threading.Event()
    writer.stop(done.set)
    assert done.wait(30)
    writer.write_line(json.dumps({"n": "after stop"}))  # written at once
    assert seen_threads == {"camservice-log-compressor"} and caller.name not in seen_threads
    lines = []
    for p in rotated_files(path) + [path]:
        data = gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
        lines += data.decode().splitlines()
    assert lines[0] == "before start"
    assert [json.loads(x)["n"] for x in lines[1:]] == list(range(300)) + ["after stop"]
    assert len(rotated_files(path)) > 1
    assert all(p.name.endswith(".gz") for p in rotated_files(path))


def test_a_full_queue_drops_lines_and_says_so(tmp_path):
    path = tmp_path / "x.log"
    writer = LogFileWriter(path, _config(path, max_size=0), now=_Now(), max_queued=3)
    for i in range(5):
        writer.write_line(str(i))
    assert writer.dropped == 2
    writer.start()
    done = threading.Event()
    writer.stop(done.set)
    assert done.wait(30)
    lines = path.read_text().splitlines()
    assert lines[:3] == ["0", "1", "2"]
    note = json.loads(lines[3])
    assert note["level"] == "warn" and note["dropped"] == 2


def test_the_service_needs_a_file():
    with pytest.raises(ValueError):
        LogFileService(_config(None), reactor)


@pytest_twisted.ensureDeferred
async def test_the_service_writes_json_records_and_flushes_at_stop(tmp_path):
    path = tmp_path / "x.log"
    svc = LogFileService(_config(path, max_size=0), reactor)
    log = Logger(namespace="camservice.test", observer=LogPublisher(svc.observer))
    svc.startService()
    for i in range(100):
        log.info("line {n}", n=i, camera_id="camera3")
    await svc.stopService()
    records = [json.loads(x) for x in path.read_text().splitlines()]
    ours = [r for r in records if r["system"] == "camservice.test"]
    assert [r["n"] for r in ours] == list(range(100))
    assert ours[0]["camera_id"] == "camera3" and ours[0]["message"] == "line 0"
    assert {"time", "level", "system", "message"} <= ours[0].keys()


def test_reconfigure_applies_in_line_order_and_moves_to_a_new_file(tmp_path):
    old, new = tmp_path / "old.log", tmp_path / "new" / "new.log"
    config = _config(old, max_size=0, compress=False)
    writer = LogFileWriter(old, config, now=_Now())
    writer.start()
    writer.write_line("one")
    writer.reconfigure(replace(config, max_size=10))
    writer.write_line("two: past the new limit")  # rotates first
    writer.reconfigure(replace(config, file=new))
    writer.write_line("three")
    done = threading.Event()
    writer.stop(done.set)
    assert done.wait(30)
    (rotated,) = rotated_files(old)
    assert rotated.read_text() == "one\n"
    assert old.read_text() == "two: past the new limit\n"
    assert new.read_text() == "three\n"


def test_reconfigure_after_stop_applies_at_once(tmp_path):
    path = tmp_path / "x.log"
    config = _config(path, max_size=0, compress=False)
    writer = LogFileWriter(path, config, now=_Now())
    done = threading.Event()
    writer.stop(done.set)  # never started: nothing to wait for
    assert done.is_set()
    writer.reconfigure(replace(config, file=tmp_path / "y.log"))
    writer.write_line("late")
    assert (tmp_path / "y.log").read_text() == "late\n"


@pytest_twisted.ensureDeferred
async def test_the_service_applies_a_new_section(tmp_path):
    path = tmp_path / "x.log"
    svc = LogFileService(_config(path, max_size=0), reactor)
    log = Logger(namespace="camservice.test", observer=LogPublisher(svc.observer))
    svc.startService()
    log.info("before")
    svc.apply(_config(tmp_path / "y.log", max_size=0))
    log.info("after")
    with pytest.raises(ValueError):
        svc.apply(_config(None))
    await svc.stopService()
    assert [json.loads(x)["message"] for x in path.read_text().splitlines()][-1] == "before"
    assert [json.loads(x)["message"] for x in (tmp_path / "y.log").read_text().splitlines()] == ["after"]
    assert svc.config.file == tmp_path / "y.log"


def test_a_slow_compression_holds_up_neither_the_caller_nor_the_writer(tmp_path):
    path = tmp_path / "x.log"
    writer = LogFileWriter(path, _config(path, max_size=100), now=_Now())
    compressing, release, written = threading.Event(), threading.Event(), threading.Event()
    real_finish, real_write = writer.file.finish_rotation, writer.file.write

    def slow_finish(rotated):
        compressing.set()
        assert release.wait(30)
        real_finish(rotated)

    def write(data):
        real_write(data)
        if data == b"after\n":
            written.set()

    writer.file.finish_rotation = slow_finish
    writer.file.write = write
    writer.start()
    writer.write_line("a" * 60)
    writer.write_line("b" * 60)  # rotates: the first line's file is compressed
    assert compressing.wait(30)
    writer.write_line("after")  # returns at once, and is written meanwhile
    assert written.wait(30)
    assert not release.is_set()
    release.set()
    done = threading.Event()
    writer.stop(done.set)
    assert done.wait(30)
    (rotated,) = rotated_files(path)
    assert rotated.name.endswith(".gz") and gzip.decompress(rotated.read_bytes()) == b"a" * 60 + b"\n"


def test_a_file_that_cannot_be_written_stops_the_start(tmp_path):
    from camservice.errors import StartupError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    svc = LogFileService(_config(blocker / "x.log"), reactor)
    with pytest.raises(StartupError, match="logging.file .*not-a-folder/x.log: cannot write it"):
        svc.startService()
    assert not svc.running
