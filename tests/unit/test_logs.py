"""Log records: JSON lines with the event's fields; levels filter."""
from __future__ import annotations

import io
import json

from twisted.logger import Logger, LogPublisher

from camservice.config.model import LoggingConfig
from camservice.logs import make_observer


def _emit(observer, fn):
    publisher = LogPublisher(observer)
    log = Logger(namespace="camservice.test", observer=publisher)
    fn(log)


def test_json_lines_carry_time_level_system_message_and_fields():
    out = io.StringIO()
    observer = make_observer(LoggingConfig(level="info", format="json"), out)
    _emit(observer, lambda log: log.info(
        "camera {camera_id} has {payload}", camera_id="camera3", payload={"a": "{braces}"},
        conn_id="c7", request_id="c7-2"))
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "info"
    assert record["system"] == "camservice.test"
    assert record["message"] == "camera camera3 has {'a': '{braces}'}"
    assert record["conn_id"] == "c7" and record["request_id"] == "c7-2"
    assert record["camera_id"] == "camera3"
    assert record["payload"] == {"a": "{braces}"}
    assert record["time"].endswith("Z")


def test_failures_carry_the_traceback():
    out = io.StringIO()
    observer = make_observer(LoggingConfig(level="info", format="json"), out)

    def fail(log):
        try:
            1 / 0
        except ZeroDivisionError:
            log.failure("while probing {device}", device="camera1")

    _emit(observer, fail)
    record = json.loads(out.getvalue())
    assert record["level"] == "critical"
    assert "ZeroDivisionError" in record["traceback"]
    assert record["device"] == "camera1"


def test_level_filters_and_can_change():
    out = io.StringIO()
    observer = make_observer(LoggingConfig(level="warn", format="json"), out)
    _emit(observer, lambda log: (log.info("hidden"), log.warn("shown")))
    assert [json.loads(l)["message"] for l in out.getvalue().splitlines()] == ["shown"]
    observer.set_level("debug")
    _emit(observer, lambda log: log.debug("now shown"))
    assert json.loads(out.getvalue().splitlines()[-1])["message"] == "now shown"


def test_auto_is_text_on_a_terminal_and_json_elsewhere():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    _emit(make_observer(LoggingConfig(level="info", format="auto"), tty), lambda log: log.info("hello {who}", who="you"))
    _emit(make_observer(LoggingConfig(level="info", format="auto"), pipe), lambda log: log.info("hello {who}", who="you"))
    assert "hello you" in tty.getvalue() and not tty.getvalue().startswith("{")
    assert json.loads(pipe.getvalue())["message"] == "hello you"


def test_unserialisable_fields_are_repr_d():
    out = io.StringIO()
    observer = make_observer(LoggingConfig(level="info", format="json"), out)
    _emit(observer, lambda log: log.info("x", thing=object(), data=b"\xff"))
    record = json.loads(out.getvalue())
    assert record["thing"].startswith("<object object")
    assert record["data"] == "b'\\xff'"
