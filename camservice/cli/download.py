"""Downloading ``/files/...`` over HTTP(S) with treq: the credential in a
header, resumed with ``Range`` from a ``FILE.part`` left by an earlier
attempt, and renamed into place only once complete and on disk.

Files camservice serves are finalized (written once, renamed whole, never
changed), so a partial file of the same name is a prefix of the file.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from twisted.internet import defer

from camservice.cli import exits
from camservice.cli.exits import CliError
from camservice.cli.progress import ProgressBar
from camservice.cli.target import Target

__all__ = ["KINDS", "download", "file_path", "kind_of", "part_path"]

KINDS = ("recordings", "snapshots")
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED = re.compile(r"^bytes \*/(\d+)$")


def kind_of(name: str, kind: Optional[str] = None) -> str:
    """``snapshots`` for ``.jpg``/``.jpeg`` names (snapshots always have
    one), else ``recordings``; ``kind`` when given."""
    if kind:
        return kind
    return "snapshots" if name.lower().endswith((".jpg", ".jpeg")) else "recordings"


def file_path(kind: str, name: str) -> str:
    """The download path of a file, as ``download_url`` has it."""
    return f"/files/{kind}/{quote(name, safe='')}"


def part_path(dest: Path) -> Path:
    """Where the download is written until complete: ``FILE.part`` beside it."""
    return dest.with_name(dest.name + ".part")


class _Sink:
    """Appends the body to the open part file, counting, with an idle timer."""

    def __init__(self, handle, bar: ProgressBar, reactor, idle: float, cancel):
        self.handle = handle
        self.bar = bar
        self.written = 0
        self._reactor = reactor
        self._idle = idle
        self._cancel = cancel
        self._timer = reactor.callLater(idle, cancel)

    def __call__(self, data: bytes) -> None:
        self.handle.write(data)
        self.written += len(data)
        self.bar.advance(len(data))
        self._timer.reset(self._idle)

    def stop(self) -> None:
        if self._timer.active():
            self._timer.cancel()


def _http_client(reactor, target: Target):
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=False)
    if target.secure:
        from camservice.cli.tls import https_policy

        return HTTPClient(Agent(reactor, contextFactory=https_policy(target), pool=pool))
    return HTTPClient(Agent(reactor, pool=pool))


def _header(response, name: bytes) -> Optional[str]:
    values = response.headers.getRawHeaders(name)
    return values[0].decode("latin-1").strip() if values else None


async def _refusal(response, url: str) -> CliError:
    try:
        body = (await response.content())[:300].decode("utf-8", "replace").strip()
    except Exception:  # the body is only for the message
        body = ""
    text = body.splitlines()[0] if body else response.phrase.decode("latin-1", "replace")
    return CliError(f"GET {url}: HTTP {response.code}: {text}", exits.for_http_status(response.code),
                    {"http_status": response.code})


async def download(reactor, target: Target, path: str, dest: Path, stderr, force: bool = False) -> dict:
    """Fetch ``path`` (``/files/<kind>/<name>``) into ``dest``.

    :param stderr: where the progress bar goes (only if it is a terminal).
    :param force: replace ``dest`` if it exists.
    :returns: ``{"path", "bytes", "resumed_from"}``.
    :raises CliError: the HTTP refusal's exit code (AUTH, NOT_FOUND...),
        CONNECTION, or FAILED for a local file problem.
    """
    if dest.exists() and not force:
        raise CliError(f"{dest} exists; remove it or use --force", exits.FAILED)
    if not dest.parent.is_dir():
        raise CliError(f"{dest.parent} is not a folder", exits.FAILED)
    part = part_path(dest)
    url = target.http_base + path
    http = _http_client(reactor, target)
    have = part.stat().st_size if part.exists() else 0
    result = await _fetch(reactor, http, target, url, part, have, stderr)
    if result is None:  # the part was longer than the file: start over
        result = await _fetch(reactor, http, target, url, part, 0, stderr)
    total, resumed_from = result
    _finish(part, dest, total)
    return {"path": str(dest), "bytes": total, "resumed_from": resumed_from}


async def _fetch(reactor, http, target: Target, url: str, part: Path, have: int, stderr):
    """One GET; ``(total bytes, resumed from)``, or ``None`` when the part
    cannot be a prefix of the file."""
    headers = dict(target.http_headers())
    if have:
        headers[b"Range"] = [f"bytes={have}-".encode("ascii")]
    try:
        response = await http.get(url, headers=headers, timeout=target.timeout)
    except (CliError, defer.CancelledError):
        raise
    except Exception as e:
        raise CliError(f"GET {url}: {_why(e)}", exits.CONNECTION) from None
    if response.code == 416 and have:
        unsatisfied = _UNSATISFIED.match(_header(response, b"content-range") or "")
        await response.content()
        if unsatisfied and int(unsatisfied.group(1)) == have:
            return have, have  # the part is the whole file already
        return None
    if response.code == 206 and have:
        match = _RANGE.match(_header(response, b"content-range") or "")
        if not match or int(match.group(1)) != have:
            await response.content()
            raise CliError(f"GET {url}: the server sent another range than asked ({match and match.group(0)})")
        total = int(match.group(3)) if match.group(3) != "*" else None
        mode, start = "ab", have
    elif response.code == 200:
        length = _header(response, b"content-length")
        total = int(length) if length and length.isdigit() else None
        mode, start = "wb", 0
    else:
        raise await _refusal(response, url)
    try:
        handle = open(part, mode)
    except OSError as e:
        await response.content()
        raise CliError(f"cannot write {part}: {e.strerror}") from None
    bar = ProgressBar(stderr, reactor, part.name[: -len(".part")], total, start)
    collecting = None
    stalled = []

    def idle():
        if collecting is not None and not collecting.called:
            stalled.append(True)
            collecting.cancel()

    sink = _Sink(handle, bar, reactor, max(target.timeout, 30.0), idle)
    import treq

    try:
        collecting = treq.collect(response, sink)
        await collecting
    except defer.CancelledError:
        if not stalled:  # interrupted: the part stays for the next run
            raise
        raise CliError(f"GET {url}: no data for {max(target.timeout, 30.0):g} s; run again to resume",
                       exits.CONNECTION) from None
    except Exception as e:
        raise CliError(f"GET {url}: the transfer broke off ({_why(e)}); run again to resume",
                       exits.CONNECTION) from None
    finally:
        sink.stop()
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
    bar.finish()
    size = start + sink.written
    if total is not None and size != total:
        raise CliError(f"GET {url}: got {size} of {total} bytes; run again to resume", exits.CONNECTION)
    return size, start


def _finish(part: Path, dest: Path, total: int) -> None:
    """Rename the complete part into place and make the rename durable."""
    if part.stat().st_size != total:
        raise CliError(f"{part} holds {part.stat().st_size} bytes, not {total}")
    try:
        os.replace(part, dest)
        folder = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as e:
        raise CliError(f"cannot move {part} to {dest}: {e.strerror}") from None


def _why(error) -> str:
    reasons = getattr(error, "reasons", None)  # twisted.web's ResponseFailed and kin
    if reasons:
        return "; ".join(r.getErrorMessage() for r in reasons)
    return str(error) or type(error).__name__
