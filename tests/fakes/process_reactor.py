"""A process reactor without processes, modelled on procmon's own tests
(``twisted/runner/test/test_procmon.py``: ``DummyProcessReactor`` and
``DummyProcess``): a ``MemoryReactor`` and a ``Clock`` whose
``spawnProcess`` records what it was asked to run and returns a fake
process transport.

A fake process ends the way a real one is reported: through its
protocol's ``processEnded`` with a ``ProcessDone`` or ``ProcessTerminated``
failure, never synchronously from ``signalProcess`` (the real reactor
reports a death on SIGCHLD, later). TERM ends it after ``term_delay``
seconds unless it ``ignores_term``; KILL ends it at the next clock tick
unless it ``ignores_kill`` (a process stuck in the kernel).
"""
from __future__ import annotations

import itertools
import signal as signals
from typing import Optional

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor
from twisted.python.failure import Failure

from camservice.children import dies_with_parent

__all__ = ["FakeProcess", "FakeProcessReactor"]

_NUMBERS = {"TERM": signals.SIGTERM, "KILL": signals.SIGKILL, "INT": signals.SIGINT, "HUP": signals.SIGHUP}


class FakeProcess:
    """One spawned process (``IProcessTransport`` as far as procmon uses
    it). ``pid`` is ``None`` once it has exited."""

    def __init__(self, reactor: "FakeProcessReactor", proto, executable, args, env, path, uid, gid, pid: int):
        self.reactor = reactor
        self.proto = proto
        self.executable = executable
        self.args = list(args)
        self.env = env
        self.path = path
        self.uid = uid
        self.gid = gid
        self.pid: Optional[int] = pid
        #: signal names received, in order
        self.signals: list[str] = []
        self.term_delay = reactor.term_delay
        self.ignores_term = reactor.ignores_term
        self.ignores_kill = False
        self._ending = None

    @property
    def alive(self) -> bool:
        return self.pid is not None

    # -- IProcessTransport (what procmon calls) ---------------------------

    def signalProcess(self, signal_id) -> None:
        if self.pid is None:
            raise ProcessExitedAlready()
        self.signals.append(signal_id)
        number = _NUMBERS.get(signal_id, signal_id)
        if signal_id == "TERM" and not self.ignores_term:
            self._end_later(self.term_delay, number)
        elif signal_id == "KILL" and not self.ignores_kill:
            self._end_later(0, number)

    def loseConnection(self) -> None:
        pass

    # -- the process's side ------------------------------------------------

    def stdout(self, data: bytes) -> None:
        self.proto.childDataReceived(1, data)

    def stderr(self, data: bytes) -> None:
        self.proto.childDataReceived(2, data)

    def exit(self, status: Optional[int] = 0, signal: Optional[int] = None) -> None:
        """The process ends now: ``exit(0)`` is ``ProcessDone``; a non-zero
        status or a signal is ``ProcessTerminated``."""
        assert self.pid is not None, "this process has exited already"
        if self._ending is not None and self._ending.active():
            self._ending.cancel()
        self._ending = None
        self.pid = None
        if status == 0 and signal is None:
            reason = ProcessDone(0)
        else:
            reason = ProcessTerminated(exitCode=status, signal=signal)
        self.proto.processEnded(Failure(reason))

    def _end_later(self, delay: float, number: int) -> None:
        if self._ending is not None and self._ending.active():
            if self._ending.getTime() <= self.reactor.seconds() + delay:
                return
            self._ending.cancel()
        self._ending = self.reactor.callLater(delay, self.exit, None, number)


class FakeProcessReactor(MemoryReactor, Clock):
    """``IReactorProcess`` + ``IReactorTime``.

    :ivar spawned: every :class:`FakeProcess`, in spawn order.
    :ivar term_delay: seconds a new process takes to exit after TERM.
    :ivar ignores_term: whether new processes ignore TERM.
    :ivar spawn_error: if set, ``spawnProcess`` raises it (as
        ``posix_spawnp`` does for a missing executable).
    """

    def __init__(self, now: float = 0.0):
        MemoryReactor.__init__(self)
        Clock.__init__(self)
        self.advance(now)
        self.spawned: list[FakeProcess] = []
        self.term_delay = 1.0
        self.ignores_term = False
        self.spawn_error: Optional[Exception] = None
        self._pids = itertools.count(1000)

    def spawnProcess(self, processProtocol, executable, args=(), env={}, path=None, uid=None, gid=None,
                     usePTY=0, childFDs=None):
        if self.spawn_error is not None:
            raise self.spawn_error
        # what camservice runs is recorded without the wrapper that makes
        # it die with camservice; ``guarded`` says the wrapper was there
        wrapper = dies_with_parent([])
        guarded = bool(wrapper) and list(args[: len(wrapper)]) == wrapper
        if guarded:
            args = list(args[len(wrapper):])
            executable = args[0]
        process = FakeProcess(self, processProtocol, executable, args, env, path, uid, gid, next(self._pids))
        process.guarded = guarded
        self.spawned.append(process)
        processProtocol.makeConnection(process)
        return process

    def alive(self) -> list[FakeProcess]:
        """Processes that have not exited."""
        return [p for p in self.spawned if p.alive]

    def last(self) -> FakeProcess:
        return self.spawned[-1]
