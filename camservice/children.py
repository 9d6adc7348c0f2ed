"""Children that never outlive camservice.

Two guards, because either alone has a hole:

* every child is started through ``setpriv --pdeathsig KILL`` (util-linux),
  so the kernel kills it when its parent dies, even on ``kill -9``.
  Twisted's ``spawnProcess`` has no ``preexec_fn``, hence the wrapper; the
  FFmpeg sources MediaMTX starts get the same wrapper, so they die with
  MediaMTX;
* the long-running children (MediaMTX, keep-alive readers) are written to a
  ledger in the data folder. At start, a process still in the ledger whose
  identity (pid, start time, executable) matches what was recorded is
  killed before anything binds a port: this covers a child started in the
  instant its parent died, and hosts without ``setpriv``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from twisted.application import service
from twisted.logger import Logger

__all__ = ["ChildLedger", "LeftoverChildren", "dies_with_parent", "process_identity"]

log = Logger(namespace="camservice.children")

_SETPRIV: list = []


def _setpriv() -> Optional[str]:
    if not _SETPRIV:
        _SETPRIV.append(shutil.which("setpriv", path=os.environ.get("PATH", os.defpath) + ":/usr/bin:/bin"))
    return _SETPRIV[0]


def dies_with_parent(argv: Sequence[str], setpriv: Optional[str] = None) -> list[str]:
    """``argv`` run so that the kernel sends it KILL when its parent dies
    (unchanged where ``setpriv`` is missing: the ledger still covers it).

    :param setpriv: the ``setpriv`` to use (default: found on PATH).
    """
    wrapper = setpriv if setpriv is not None else _setpriv()
    if not wrapper or (argv and argv[0] == wrapper):
        return list(argv)
    return [wrapper, "--pdeathsig", "KILL", "--", *argv]


def process_identity(pid: int, proc: Path = Path("/proc")) -> Optional[tuple[int, str]]:
    """``(start time, executable)`` of a live process, or None if there is
    no such process, it is a zombie, or it is not ours to read.

    The start time (clock ticks after boot, field 22 of ``stat``) tells a
    process from a later one that reuses its pid.
    """
    try:
        stat = (proc / str(pid) / "stat").read_text()
        exe = os.readlink(proc / str(pid) / "exe")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19]), exe


def _resolve(executable: str) -> str:
    found = shutil.which(executable) if os.sep not in executable else executable
    return os.path.realpath(found or executable)


class ChildLedger:
    """The long-running children in a JSON file: ``{pid: {start, exe, name}}``.

    Writes are a few hundred bytes, replaced atomically, once per child
    start or exit.

    :param path: the ledger file (``<data_dir>/children.json``).
    """

    def __init__(self, path: Path, proc: Path = Path("/proc")):
        self.path = Path(path)
        self._proc = proc
        self._entries: dict[str, dict] = {}

    def record(self, pid: Optional[int], name: str, executable: str) -> None:
        """Note child ``pid`` (running ``executable``) as ours."""
        if pid is None:
            return
        identity = process_identity(pid, self._proc)
        if identity is None:
            return  # already gone
        self._entries[str(pid)] = {"start": identity[0], "exe": _resolve(executable), "name": name}
        self._write()

    def forget(self, pid: Optional[int]) -> None:
        """Child ``pid`` has exited."""
        if pid is not None and self._entries.pop(str(pid), None) is not None:
            self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self._entries, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as e:
            log.warn("cannot write the children ledger {path}: {reason}", path=str(self.path), reason=e.strerror)

    def kill_leftovers(self, sleep: Callable[[float], None] = time.sleep, timeout: float = 3.0) -> list[int]:
        """Kill what a previous run left behind; the pids killed.

        Only a process whose start time and executable match the ledger is
        killed (``setpriv`` counts as the executable of a child killed
        before it ran its program). Then the ledger is emptied.
        """
        try:
            recorded = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            log.warn("ignoring an unreadable children ledger {path}: {reason}", path=str(self.path), reason=str(e))
            recorded = {}
        killed = []
        wrapper = _setpriv()
        for pid_text, entry in recorded.items() if isinstance(recorded, dict) else ():
            try:
                pid, start, exe = int(pid_text), entry["start"], entry["exe"]
            except (KeyError, TypeError, ValueError):
                continue
            identity = process_identity(pid, self._proc)
            if identity is None or identity[0] != start or identity[1] not in (exe, wrapper and os.path.realpath(wrapper)):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            log.warn(
                "killed {name} (pid {pid}) left running by a previous camservice",
                name=entry.get("name"), pid=pid, executable=exe,
            )
            killed.append(pid)
        deadline = time.monotonic() + timeout
        while killed and time.monotonic() < deadline:
            if all(process_identity(pid, self._proc) is None for pid in killed):
                break
            sleep(0.05)
        self._entries = {}
        self._write()
        return killed


class LeftoverChildren(service.Service):
    """Kills a previous run's children before anything binds a port
    (first child of the tree: its ``privilegedStartService`` runs before
    every other)."""

    def __init__(self, ledger: ChildLedger):
        self.ledger = ledger
        self._done = False

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._clean()

    def startService(self) -> None:
        super().startService()
        self._clean()  # a tree started without twistd

    def _clean(self) -> None:
        if not self._done:
            self._done = True
            self.ledger.kill_leftovers()
