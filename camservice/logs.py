"""Log output: JSON lines for machines, readable text for people.

The observer is built from the ``logging`` section and handed to twistd as
the application's ``ILogObserver`` component (see
:meth:`camservice.service.ServiceTree.setServiceParent`), so twistd starts
logging with it; ``twistd --logger`` still overrides it. When
``logging.file`` is set, the log file's observer
(:mod:`camservice.ops.logfile`) sits behind the same level filter.
"""
from __future__ import annotations

import sys
from typing import IO, Any, Sequence

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    textFileLogObserver,
)
from zope.interface import implementer

from camservice.codec import dumps
from camservice.config.model import LoggingConfig
from camservice.timeutil import iso_timestamp

__all__ = [
    "JsonLinesObserver",
    "LevelledObserver",
    "LoggingSettings",
    "event_as_record",
    "json_line",
    "make_observer",
]

# Keys of legacy (twisted.python.log) events that repeat what the record
# already says.
_SKIP = frozenset({"message", "format", "isError", "system", "time", "why", "failure"})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def event_as_record(event: dict) -> dict:
    """One log event as a flat JSON-able record.

    ``time``, ``level``, ``system`` and ``message`` come first; then the
    event's own fields (``conn_id``, ``request_id``, ``camera_id``, ...);
    a failure adds ``traceback``.
    """
    level = event.get("log_level", LogLevel.info)
    record = {
        "time": iso_timestamp(event.get("log_time", 0.0), millis=True),
        "level": level.name,
        "system": event.get("log_namespace") or event.get("log_system") or "-",
        "message": formatEvent(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    for key, value in event.items():
        if key.startswith("log_") or key in _SKIP:
            continue
        record[key] = _jsonable(value)
    return record


def json_line(event: dict) -> str:
    """``event`` as one line of JSON (no newline)."""
    try:
        return dumps(event_as_record(event)).decode("utf-8")
    except Exception as e:  # a log line must never take the service down
        return dumps({"level": "error", "message": f"unloggable event: {e!r}"}).decode("utf-8")


@implementer(ILogObserver)
class JsonLinesObserver:
    """Writes each event as one JSON object on one line."""

    def __init__(self, stream: IO[str]):
        self._stream = stream

    def __call__(self, event: dict) -> None:
        self._stream.write(json_line(event) + "\n")
        self._stream.flush()


@implementer(ILogObserver)
class LevelledObserver:
    """Filters by level; the level can change while running."""

    def __init__(self, observer: ILogObserver, level: str, set_format=None):
        self._predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
        self._filtered = FilteringLogObserver(observer, [self._predicate])
        self._set_format = set_format

    def set_level(self, level: str) -> None:
        self._predicate.setLogLevelForNamespace(None, LogLevel.levelWithName(level))

    def set_format(self, fmt: str) -> None:
        """Write ``json``, ``text`` or ``auto`` lines from the next event on."""
        if self._set_format is None:
            raise ValueError("this observer's format cannot change")
        self._set_format(fmt)

    def __call__(self, event: dict) -> None:
        self._filtered(event)


@implementer(ILogObserver)
class _Formatted:
    """The stream's observer, in a format that can change while running."""

    def __init__(self, stream: IO[str], fmt: str):
        self._stream = stream
        self.set_format(fmt)

    def set_format(self, fmt: str) -> None:
        if fmt == "auto":
            fmt = "text" if getattr(self._stream, "isatty", lambda: False)() else "json"
        self._observer = JsonLinesObserver(self._stream) if fmt == "json" else textFileLogObserver(self._stream)

    def __call__(self, event: dict) -> None:
        self._observer(event)


@implementer(ILogObserver)
class _FanOut:
    def __init__(self, observers: Sequence[ILogObserver]):
        self._observers = tuple(observers)

    def __call__(self, event: dict) -> None:
        for observer in self._observers:
            observer(event)


def make_observer(
    config: LoggingConfig, stream: IO[str] = None, also: Sequence[ILogObserver] = ()
) -> LevelledObserver:
    """The observer for ``config``: JSON lines unless ``format`` is ``text``
    or ``auto`` on a terminal.

    :param stream: where to write (default stdout).
    :param also: more observers behind the same level filter (the log
        file's).
    """
    stream = sys.stdout if stream is None else stream
    formatted = _Formatted(stream, config.format)
    base = _FanOut((formatted, *also)) if also else formatted
    return LevelledObserver(base, config.level, set_format=formatted.set_format)


class LoggingSettings:
    """The ``logging`` section at run time (a reload participant).

    Takes a new level and format on the observer twistd logs through, new
    rotation settings or a new path for the log file when one is open, and
    a new size for the recent errors. Turning the log file on or off needs
    a restart (the observer chain is built once).

    :param observer: the tree's :class:`LevelledObserver`.
    :param config: the ``logging`` section in force.
    :param log_file: the ``log-file`` child, or ``None``.
    :param recent_errors: the ``recent-errors`` child, or ``None``.
    :param on_level: called with the new level (the dispatcher's trace).
    """

    def __init__(self, observer: LevelledObserver, config: LoggingConfig, log_file=None, recent_errors=None,
                 on_level=None):
        self._observer = observer
        self.config = config
        self._log_file = log_file
        self._recent = recent_errors
        self._on_level = on_level
        keys = ["logging.level", "logging.format", "logging.recent_errors"]
        if log_file is not None:
            keys += ["logging.file", "logging.max_size", "logging.rotate_interval", "logging.keep",
                     "logging.total_size", "logging.compress"]
        self.reloadable_keys = tuple(keys)

    def checkConfig(self, new) -> None:
        from camservice.config.errors import ConfigError, ConfigProblem

        if self._log_file is not None and new.logging.file is None:
            raise ConfigError([ConfigProblem(
                "logging.file", "cannot be turned off while running; restart camservice to apply it", None
            )])

    def reconfigService(self, new):
        section = new.logging
        if section == self.config:
            return None
        # the one step that can fail goes first: nothing to undo then
        if self._log_file is not None and section.file is not None:
            self._log_file.apply(section)
        self._observer.set_level(section.level)
        self._observer.set_format(section.format)
        if self._recent is not None:
            self._recent.resize(section.recent_errors)
        if self._on_level is not None:
            self._on_level(section.level)
        self.config = section
        return None
