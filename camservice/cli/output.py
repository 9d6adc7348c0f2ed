"""What camctl writes: aligned tables and ``key: value`` blocks for
people, one JSON document on stdout for scripts (``--json``), errors as
one line on stderr."""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Optional, Sequence, TextIO

__all__ = ["Output", "human_size", "reader_gone", "table"]


def human_size(size: Any) -> str:
    """``1536`` -> ``1.5 KiB``; ``None`` -> ``-``."""
    if not isinstance(size, (int, float)) or isinstance(size, bool):
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def cell(value: Any) -> str:
    """A value as a table shows it: ``-`` for nothing, lists joined, no
    line breaks or tabs (names come from the server)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    text = str(value)
    return "".join(c if c.isprintable() else " " for c in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Lines of a table whose columns are as wide as their widest cell;
    the last column is not padded."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = []
    for row in [list(headers)] + cells:
        padded = [text.ljust(widths[i]) for i, text in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(padded).rstrip())
    return lines


def fields(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    """``key: value`` lines with the values aligned."""
    pairs = [(k, cell(v)) for k, v in pairs]
    width = max((len(k) for k, _ in pairs), default=0) + 1
    return [f"{(k + ':').ljust(width)} {v}" for k, v in pairs]


def reader_gone(stdout) -> None:
    """stdout's reader closed the pipe (``camctl files | head``): point
    stdout at /dev/null so that nothing complains when it is flushed at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file: nothing to silence
        pass


class Output:
    """Where a command's results go.

    :param json_mode: ``--json``: :meth:`document` writes JSON and the
        human forms write nothing.
    """

    def __init__(self, stdout: TextIO, stderr: TextIO, json_mode: bool = False):
        self.stdout = stdout
        self.stderr = stderr
        self.json_mode = json_mode

    def document(self, value: Any) -> None:
        """The one JSON document of ``--json`` (indented, sorted keys as the server sent them)."""
        if self.json_mode:
            self.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
            self.stdout.flush()

    def json_line(self, value: Any) -> None:
        """One compact JSON object on a line (``watch --json``: JSON Lines)."""
        self.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.stdout.flush()

    def lines(self, lines: Iterable[str]) -> None:
        if not self.json_mode:
            for line in lines:
                self.stdout.write(line + "\n")
            self.stdout.flush()

    def line(self, text: str) -> None:
        self.lines([text])

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: Optional[str] = None) -> None:
        rows = list(rows)
        if not rows and empty is not None:
            self.line(empty)
            return
        self.lines(table(headers, rows))

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        self.lines(fields(pairs))

    def note(self, text: str) -> None:
        """A remark for people, on stderr (never mixed into results)."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def error(self, message: str, exit_code: int, detail: Optional[dict] = None) -> None:
        """The failure: ``camctl: message`` on stderr; with ``--json`` one
        JSON object ``{"error": {...}}`` there instead."""
        if self.json_mode:
            body = {"message": message, "exit_code": exit_code}
            body.update(detail or {})
            self.stderr.write(json.dumps({"error": body}, ensure_ascii=False) + "\n")
        else:
            self.stderr.write(f"camctl: {message}\n")
        self.stderr.flush()
