"""MediaMTXProcess: MediaMTX's own log levels are kept for its lines."""
from __future__ import annotations

import pytest

from camservice.config import load_config
from camservice.mediamtx.config_file import MediaAccess
from camservice.mediamtx.process import MediaMTXProcess
from camservice.metrics import Metrics
from fakes.process_reactor import FakeProcessReactor


@pytest.fixture
def process(write_config, tmp_path):
    config = load_config(write_config({}))
    return MediaMTXProcess(config.mediamtx, tmp_path / "data", Metrics(), FakeProcessReactor(),
                           MediaAccess("http://127.0.0.1:9996/mediamtx/auth"))


@pytest.mark.parametrize(
    "prefix, level",
    [("DEB", "debug"), ("INF", "info"), ("WAR", "warn"), ("ERR", "error")],
)
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_mediamtxs_level_prefix_gives_the_level(process, prefix, level, stream):
    line = f"2026/11/25 18:11:00 {prefix} [RTSP] [conn 127.0.0.1:50412] opened"
    assert process.line_level(line, stream) == level


@pytest.mark.parametrize(
    "line",
    [
        "2026/11/25 18:11:00 INFO [RTSP] not MediaMTX's prefix",
        "ERRATIC 2026/11/25 18:11:00 something",
        "2026/11/25 18:11:00 [RTSP] WAR inside the message",
        "",
    ],
)
def test_lines_without_a_level_fall_back_to_the_stream(process, line):
    assert process.line_level(line, "stdout") == "info"
    assert process.line_level(line, "stderr") == "warn"


def test_mediamtxs_fatal_startup_error_is_an_error(process):
    assert process.line_level("ERR: unable to parse IP/CIDR 'localhost'", "stdout") == "error"
