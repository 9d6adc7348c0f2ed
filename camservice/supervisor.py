"""Supervised child processes: a small supervisor of ours (STYLE.md §4).

One :class:`ChildProtocol` per running child, with an ``ended`` Deferred;
a child that dies while the service runs is restarted, at once after a long
run, else after a backoff that doubles with each quick death
(:func:`camservice.mediamtx.retry.backoff_delay`, with jitter so that
children that died together do not restart in step). Stopping sends TERM,
then KILL after ``killTime`` seconds; ``stopService`` fires once every
child has really exited. Each death is logged with its exit status or
signal, each output line at a level the subclass chooses (URL credentials
redacted), and each child gets an explicit environment, started so that it
dies with camservice (:mod:`camservice.children`).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.logger import Logger

from camservice.children import ChildLedger, dies_with_parent
from camservice.mediamtx.retry import backoff_delay
from camservice.security.redact import redact_text

__all__ = ["ChildProtocol", "Supervisor", "child_environment"]

_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "LD_PRELOAD", "UMOCKDEV_DIR")
_STREAMS = {1: "stdout", 2: "stderr"}


def child_environment(environ=os.environ) -> dict:
    """The few variables a child needs (nothing of camservice's secrets)."""
    return {k: environ[k] for k in _ENV_KEEP if k in environ}


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return repr(line)


class ChildProtocol(protocol.ProcessProtocol):
    """One run of one child: its output as lines, its end as a Deferred.

    :param on_line: ``on_line(text, stream)`` for each non-empty line
        ("stdout" or "stderr"); a last line without a newline is handed
        over when the child exits.
    :ivar ended: fires with the ``processEnded`` reason's exception
        (``ProcessDone`` or ``ProcessTerminated``), never fails.
    """

    def __init__(self, on_line: Callable[[str, str], None]):
        self._on_line = on_line
        self._partial: dict[int, bytes] = {}
        self.ended: defer.Deferred = defer.Deferred()

    def childDataReceived(self, fd: int, data: bytes) -> None:
        *lines, rest = (self._partial.pop(fd, b"") + data).split(b"\n")
        if rest:
            self._partial[fd] = rest
        for line in lines:
            self._emit(fd, line)

    def _emit(self, fd: int, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if line.strip():
            self._on_line(_text(line), _STREAMS.get(fd, f"fd{fd}"))

    def processEnded(self, reason) -> None:
        for fd, rest in sorted(self._partial.items()):
            self._emit(fd, rest)
        self._partial.clear()
        self.ended.callback(reason.value)


@dataclass
class _Spec:
    argv: list[str]
    program: str
    env: dict
    cwd: Optional[str]


@dataclass
class _Run:
    proto: ChildProtocol
    transport: object
    started_at: float
    pid: Optional[int]
    killer: Optional[object] = None
    stopping: bool = False
    waiters: list = field(default_factory=list)


class Supervisor(service.Service):
    """Keeps named children running while the service runs.

    Class attributes (subclasses and instances set them): ``threshold``
    (a run shorter than this, in seconds, is a quick death),
    ``killTime`` (seconds between TERM and KILL), ``minRestartDelay`` and
    ``maxRestartDelay`` (the backoff after quick deaths).

    :param reactor: ``IReactorProcess`` and ``IReactorTime``.
    :param logger: where children's lines and exits are logged.
    :param ledger: records each running child (pid, start time,
        executable) so that a next start kills what a hard death left.
    :param jitter: ``jitter() -> seconds`` added to each backoff.
    """

    threshold: float = 1
    killTime: float = 5
    minRestartDelay: float = 1
    maxRestartDelay: float = 3600

    def __init__(self, reactor, logger: Logger, ledger: Optional[ChildLedger] = None,
                 jitter: Callable[[], float] = random.random):
        self._reactor = reactor
        self.logger = logger
        self.ledger = ledger
        self._jitter = jitter
        self._specs: dict[str, _Spec] = {}
        self._runs: dict[str, _Run] = {}
        self._restarts: dict[str, object] = {}
        self._quick_deaths: dict[str, int] = {}
        self._idle_waiters: list[defer.Deferred] = []

    # -- hooks for subclasses ---------------------------------------------------

    def line_level(self, line: str, stream: str) -> str:
        """The log level of one output line (default: info; stderr: warn)."""
        return "warn" if stream == "stderr" else "info"

    def started(self, name: str) -> None:
        """Called after child ``name`` was (re)started."""

    def exited(self, name: str, status: Optional[int], signal: Optional[int]) -> None:
        """Called after child ``name`` exited (while running: it will be
        restarted)."""

    # -- the children -------------------------------------------------------------

    def names(self) -> list[str]:
        """The children kept running (added and not removed), sorted."""
        return sorted(self._specs)

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def addProcess(self, name: str, args: Sequence[str], uid=None, gid=None,
                   env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None) -> None:
        """Keep ``args`` running as ``name``; started now if the service
        runs. ``env`` is the whole environment (default: empty).

        :raises KeyError: ``name`` is already supervised.
        """
        if uid is not None or gid is not None:
            raise ValueError("children run as camservice's own user")
        if name in self._specs:
            raise KeyError(f"remove {name} before adding it again")
        self._specs[name] = _Spec(dies_with_parent(args), args[0], dict(env or {}), cwd)
        self._quick_deaths[name] = 0
        if self.running:
            self.startProcess(name)

    def removeProcess(self, name: str) -> None:
        """Stop and forget ``name``, including a restart still pending
        (:meth:`wait_stopped` tells when it has exited)."""
        self._specs.pop(name, None)
        self._quick_deaths.pop(name, None)
        self._cancel_restart(name)
        run = self._runs.get(name)
        if run is not None:
            self._stop(run)

    def pid_of(self, name: str) -> Optional[int]:
        run = self._runs.get(name)
        return run.pid if run is not None else None

    def startProcess(self, name: str) -> None:
        """Start ``name`` unless it runs already."""
        self._restarts.pop(name, None)
        spec = self._specs.get(name)
        if spec is None or name in self._runs:
            return
        proto = ChildProtocol(lambda line, stream: self._line(name, line, stream))
        try:
            transport = self._reactor.spawnProcess(proto, spec.argv[0], spec.argv, env=spec.env, path=spec.cwd)
        except OSError:
            self.logger.failure("cannot start {name}", name=name)
            self._schedule_restart(name, quick=True)
            return
        pid = getattr(transport, "pid", None)
        run = _Run(proto, transport, self._reactor.seconds(), pid)
        self._runs[name] = run
        if self.ledger is not None:
            self.ledger.record(pid, name, spec.program)
        proto.ended.addCallback(self._ended, name, run)
        self.started(name)

    def wait_stopped(self, name: str) -> defer.Deferred:
        """After ``removeProcess(name)``: fires once that child has exited
        (a TimeoutError ``killTime + 5`` seconds on, if even KILL did not
        end it)."""
        run = self._runs.get(name)
        if run is None:
            return defer.succeed(None)
        d: defer.Deferred = defer.Deferred()
        run.waiters.append(d)
        return d.addTimeout(self.killTime + 5, self._reactor)

    # -- service ------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        for name in list(self._specs):
            self.startProcess(name)

    def stopService(self) -> defer.Deferred:
        """Stop every child; fires once all have exited (KILL after
        ``killTime`` seconds; a TimeoutError ``killTime + 5`` seconds on
        if one outlives even that)."""
        super().stopService()
        for name in list(self._restarts):
            self._cancel_restart(name)
        if not self._runs:
            return defer.succeed(None)
        d: defer.Deferred = defer.Deferred()
        self._idle_waiters.append(d)
        for run in list(self._runs.values()):
            self._stop(run)
        return d.addTimeout(self.killTime + 5, self._reactor)

    # -- inside -------------------------------------------------------------------

    def _line(self, name: str, line: str, stream: str) -> None:
        level = self.line_level(line, stream)
        getattr(self.logger, level)("[{tag}] {line}", tag=name, line=redact_text(line), stream=stream)

    def _signal(self, run: _Run, signal_name: str) -> None:
        try:
            run.transport.signalProcess(signal_name)
        except (error.ProcessExitedAlready, OSError):
            pass

    def _stop(self, run: _Run) -> None:
        if run.stopping:
            return
        run.stopping = True
        self._signal(run, "TERM")
        run.killer = self._reactor.callLater(self.killTime, self._signal, run, "KILL")

    def _cancel_restart(self, name: str) -> None:
        pending = self._restarts.pop(name, None)
        if pending is not None and pending.active():
            pending.cancel()

    def _schedule_restart(self, name: str, quick: bool) -> None:
        if not self.running or name not in self._specs:
            return
        if quick:
            attempt = self._quick_deaths.get(name, 0)
            self._quick_deaths[name] = attempt + 1
            delay = backoff_delay(attempt, self.minRestartDelay, self.maxRestartDelay, jitter=self._jitter)
        else:
            self._quick_deaths[name] = 0
            delay = 0
        self._restarts[name] = self._reactor.callLater(delay, self.startProcess, name)

    def _ended(self, reason, name: str, run: _Run) -> None:
        if self._runs.get(name) is run:
            del self._runs[name]
        if run.killer is not None and run.killer.active():
            run.killer.cancel()
        if self.ledger is not None:
            self.ledger.forget(run.pid)
        status = getattr(reason, "exitCode", None)
        signal = getattr(reason, "signal", None)
        wanted = self.running and name in self._specs  # not removed, or added again
        restarting = wanted and not run.stopping
        if restarting:
            self.logger.warn(
                "{name} exited (status {status}, signal {signal}); restarting with backoff",
                name=name, status=status, signal=signal,
            )
        else:
            self.logger.info("{name} stopped (status {status}, signal {signal})", name=name, status=status, signal=signal)
        try:
            self.exited(name, status, signal)
        finally:
            if restarting:
                quick = self._reactor.seconds() - run.started_at < self.threshold
                self._schedule_restart(name, quick)
            elif wanted and name not in self._restarts:
                self.startProcess(name)  # removed and added again while it was exiting
            for d in run.waiters:
                if not d.called:
                    d.callback(None)
            if not self._runs:
                waiters, self._idle_waiters = self._idle_waiters, []
                for d in waiters:
                    if not d.called:
                        d.callback(None)
        return reason
