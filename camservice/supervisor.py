"""Supervised child processes, on ``twisted.runner.procmon.ProcessMonitor``.

procmon restarts a child that dies (doubling the delay after quick deaths),
stops children with TERM then KILL, and logs their output line by line.
:class:`Supervisor` adds what a daemon also needs: ``stopService`` that
waits until every child has really exited, the exit status of each death in
the log, output lines logged at a level of our choosing, an explicit
environment, and hooks for starts and exits.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger
from twisted.runner.procmon import ProcessMonitor

from camservice.children import ChildLedger, dies_with_parent
from camservice.security.redact import redact_text

__all__ = ["Supervisor", "child_environment"]

_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "LD_PRELOAD", "UMOCKDEV_DIR")


def child_environment(environ=os.environ) -> dict:
    """The few variables a child needs (procmon's default is *empty*)."""
    return {k: environ[k] for k in _ENV_KEEP if k in environ}


class _LineLog:
    """Stands in for procmon's ``log``: each output line is handed to
    ``level_of(line, stream)`` and logged at the level it returns, with
    the credentials of any URL in it redacted (a child may print the
    stream URLs it was given)."""

    def __init__(self, logger: Logger, level_of: Callable[[str, str], str]):
        self._logger = logger
        self._level_of = level_of

    def info(self, fmt: str, **fields) -> None:
        line, stream, tag = fields.get("line", ""), fields.get("stream", ""), fields.get("tag", "")
        if not line.strip():
            return  # procmon flushes an empty line when a child exits
        level = self._level_of(line, stream)
        getattr(self._logger, level)("[{tag}] {line}", tag=tag, line=redact_text(line), stream=stream)

    def __getattr__(self, name: str):
        # procmon's other calls (e.g. log.failure when a spawn fails) go
        # to the logger as they are
        return getattr(self._logger, name)


class Supervisor(ProcessMonitor):
    """A ProcessMonitor whose stop waits and whose deaths are explained.

    :param reactor: ``IReactorProcess`` and ``IReactorTime``.
    :param logger: where children's lines and exits are logged.
    """

    def __init__(self, reactor, logger: Logger, ledger: Optional[ChildLedger] = None):
        super().__init__(reactor=reactor)
        self.logger = logger
        self.ledger = ledger
        self._pids: dict[str, int] = {}
        self._programs: dict[str, str] = {}
        self.log = _LineLog(logger, self.line_level)
        self._stop_waiters: list[defer.Deferred] = []

    def line_level(self, line: str, stream: str) -> str:
        """The log level of one output line (default: info; stderr: warn)."""
        return "warn" if stream == "stderr" else "info"

    def addProcess(self, name: str, args, uid=None, gid=None, env={}, cwd=None) -> None:
        """As procmon's, the child killed by the kernel if camservice dies
        (see :mod:`camservice.children`)."""
        self._programs[name] = args[0]
        super().addProcess(name, dies_with_parent(args), uid=uid, gid=gid, env=env, cwd=cwd)

    def startProcess(self, name: str) -> None:
        try:
            super().startProcess(name)
        except OSError:
            # Older procmon lets a spawn failure escape; treat it like a
            # quick death: log it and retry with backoff.
            self.logger.failure("cannot start {name}", name=name)
            self.protocols.pop(name, None)
            delay = self.delay[name]
            self.delay[name] = min(delay * 2, self.maxRestartDelay)
            if self.running and name in self._processes:
                self.restart[name] = self._reactor.callLater(delay, self.startProcess, name)
            return
        proto = self.protocols.get(name)
        if proto is None:
            return
        original = proto.processEnded

        def processEnded(reason) -> None:
            try:
                original(reason)
            finally:
                self._exited(name, reason)

        proto.processEnded = processEnded
        pid = self.pid_of(name)
        if pid is not None:
            self._pids[name] = pid
            if self.ledger is not None:
                self.ledger.record(pid, name, self._programs.get(name, ""))
        self.started(name)

    def removeProcess(self, name: str) -> None:
        """Stop and forget ``name``, including a restart still pending."""
        pending = self.restart.pop(name, None)
        if pending is not None and pending.active():
            pending.cancel()
        super().removeProcess(name)

    def pid_of(self, name: str) -> Optional[int]:
        proto = self.protocols.get(name)
        return proto.transport.pid if proto is not None and proto.transport is not None else None

    def started(self, name: str) -> None:
        """Called after child ``name`` was (re)started."""

    def exited(self, name: str, status: Optional[int], signal: Optional[int]) -> None:
        """Called after child ``name`` exited (while running: it will be
        restarted)."""

    def _exited(self, name: str, reason) -> None:
        status = getattr(reason.value, "exitCode", None)
        signal = getattr(reason.value, "signal", None)
        pid = self._pids.pop(name, None)
        if self.ledger is not None:
            self.ledger.forget(pid)
        if self.running and name in self._processes:
            self.logger.warn(
                "{name} exited (status {status}, signal {signal}); restarting with backoff",
                name=name, status=status, signal=signal,
            )
        else:
            self.logger.info("{name} stopped (status {status}, signal {signal})", name=name, status=status, signal=signal)
        self.exited(name, status, signal)
        if not self.protocols:
            waiters, self._stop_waiters = self._stop_waiters, []
            for d in waiters:
                d.callback(None)

    def stopService(self) -> defer.Deferred:
        """Stop every child; fires once all have exited (KILL after
        ``killTime`` seconds, and a few seconds more for the reap)."""
        running = bool(self.protocols)
        d: defer.Deferred = defer.Deferred()
        if running:
            self._stop_waiters.append(d)
        super().stopService()
        if not running:
            d.callback(None)
        return d.addTimeout(self.killTime + 5, self._reactor)

    def wait_stopped(self, name: str) -> defer.Deferred:
        """After ``removeProcess(name)``: fires once that child has exited."""
        if name not in self.protocols:
            return defer.succeed(None)
        d: defer.Deferred = defer.Deferred()
        proto = self.protocols[name]
        original = proto.processEnded

        def processEnded(reason) -> None:
            try:
                original(reason)
            finally:
                d.callback(None)

        proto.processEnded = processEnded
        return d.addTimeout(self.killTime + 5, self._reactor)
