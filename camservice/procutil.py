"""Running short-lived child processes (ffprobe, v4l2-ctl, ffmpeg) without
blocking the reactor, and without leaving them behind.

``getProcessOutputAndValue`` has no canceller: a timeout would leave the
child running. :func:`run_process` sends TERM on timeout or cancel, KILL
after a grace period, and only then reports.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from twisted.internet import defer, error, protocol

from camservice.children import dies_with_parent

__all__ = ["ProcessFailed", "ProcessResult", "ProcessTimeout", "run_checked", "run_process"]

_KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "LD_PRELOAD", "UMOCKDEV_DIR")


class ProcessTimeout(Exception):
    """The child did not finish in time and was killed."""


class ProcessFailed(Exception):
    """A tool could not be run, hung, or exited with an error; ``str()``
    is a one-line reason fit for a client."""


@dataclass(frozen=True)
class ProcessResult:
    code: Optional[int]
    signal: Optional[int]
    stdout: bytes
    stderr: bytes


class _Collect(protocol.ProcessProtocol):
    def __init__(self, max_output: int):
        self.out = bytearray()
        self.err = bytearray()
        self._max = max_output
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        if len(self.out) < self._max:
            self.out += data[: self._max - len(self.out)]

    def errReceived(self, data: bytes) -> None:
        if len(self.err) < self._max:
            self.err += data[: self._max - len(self.err)]

    def processEnded(self, reason) -> None:
        self.ended.callback(reason.value)


def _signal(transport, name: str) -> None:
    try:
        transport.signalProcess(name)
    except (error.ProcessExitedAlready, OSError):
        pass


def run_process(
    reactor,
    argv: Sequence[str],
    timeout: float,
    env: Optional[Mapping[str, str]] = None,
    grace: float = 2.0,
    max_output: int = 4 * 1024 * 1024,
) -> defer.Deferred:
    """Run ``argv`` to completion.

    :param timeout: seconds before the child is sent TERM (then KILL after
        ``grace`` seconds).
    :param env: the child's environment; default: a few variables of ours
        (PATH, HOME, locale), never an empty one by accident.
    :returns: a Deferred firing with a :class:`ProcessResult`; failing with
        :class:`ProcessTimeout` once a timed-out child is gone, or with
        ``OSError`` if it cannot be started. Cancelling it kills the child.
    """
    if env is None:
        env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    collector = _Collect(max_output)
    try:
        guarded = dies_with_parent(argv)
        transport = reactor.spawnProcess(collector, guarded[0], guarded, env=dict(env))
    except OSError as e:
        return defer.fail(e)
    state = {"timed_out": False}
    killer = []

    def stop() -> None:
        if killer:
            return  # already stopping
        _signal(transport, "TERM")
        killer.append(reactor.callLater(grace, _signal, transport, "KILL"))

    def on_timeout() -> None:
        state["timed_out"] = True
        stop()

    timer = reactor.callLater(timeout, on_timeout)
    result: defer.Deferred = defer.Deferred(lambda d: stop())

    def ended(value) -> None:
        for call in [timer] + killer:
            if call.active():
                call.cancel()
        if result.called:  # cancelled: the canceller already failed it
            return
        if state["timed_out"]:
            result.errback(ProcessTimeout(f"{os.path.basename(argv[0])} did not finish within {timeout} s"))
        else:
            result.callback(
                ProcessResult(getattr(value, "exitCode", None), getattr(value, "signal", None),
                              bytes(collector.out), bytes(collector.err))
            )

    collector.ended.addCallback(ended)
    return result


async def run_checked(reactor, argv: Sequence[str], timeout: float) -> bytes:
    """Run a tool that must succeed; its standard output.

    :raises ProcessFailed: it could not start, did not finish within
        ``timeout`` seconds (it was killed), or exited non-zero (the reason
        is the last line it wrote to stderr).
    """
    tool = os.path.basename(argv[0])
    try:
        result = await run_process(reactor, argv, timeout)
    except ProcessTimeout:
        raise ProcessFailed(f"{tool} did not answer within {timeout} s")
    except OSError as e:
        raise ProcessFailed(f"cannot run {argv[0]}: {e.strerror}")
    if result.code != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        if lines:
            raise ProcessFailed(lines[-1][:200])
        if result.code is None:
            raise ProcessFailed(f"{tool} was killed by signal {result.signal}")
        raise ProcessFailed(f"{tool} exited with status {result.code}")
    return result.stdout
