"""Probing V4L2 devices and changing their controls with ``v4l2-ctl``,
as child processes with a timeout (never on the reactor thread)."""
from __future__ import annotations

from twisted.internet import defer

from camservice.cameras.v4l2 import Control, Probe, V4L2ParseError, parse_all, parse_probe
from camservice.procutil import ProcessFailed, run_checked

__all__ = ["ProbeFailed", "V4L2Prober"]


class ProbeFailed(Exception):
    """v4l2-ctl failed, hung or said something unreadable; ``str()`` says
    which, for the camera's ERROR reason."""


class V4L2Prober:
    """Runs ``v4l2-ctl`` (the configured executable).

    :param timeout: seconds per v4l2-ctl run.
    """

    def __init__(self, reactor, v4l2_ctl: str, timeout: float):
        self._reactor = reactor
        self._exe = v4l2_ctl
        self._timeout = timeout

    def configure(self, v4l2_ctl: str, timeout: float) -> None:
        """Run ``v4l2_ctl`` with ``timeout`` from the next run on (a
        reload; runs in progress finish as they started)."""
        self._exe = v4l2_ctl
        self._timeout = timeout

    async def _run(self, node: str, *args: str) -> str:
        try:
            out = await run_checked(self._reactor, [self._exe, f"--device={node}", *args], self._timeout)
        except ProcessFailed as e:
            raise ProbeFailed(str(e))
        return out.decode("utf-8", "replace")

    async def probe(self, node: str) -> Probe:
        """Capabilities, modes and controls of ``node``.

        :raises ProbeFailed: with the reason.
        """
        # both at once: a plug is reported only after the probe; if one
        # fails, the other is stopped
        runs = [defer.ensureDeferred(self._run(node, "--all")),
                defer.ensureDeferred(self._run(node, "--list-formats-ext"))]
        try:
            all_text, formats_text = await defer.gatherResults(runs, consumeErrors=True)
        except defer.FirstError as e:
            for run in runs:
                if not run.called:
                    run.cancel()
                    run.addErrback(lambda f: f.trap(defer.CancelledError))
            raise e.subFailure.value
        try:
            return parse_probe(all_text, formats_text)
        except V4L2ParseError as e:
            raise ProbeFailed(f"unreadable v4l2-ctl output: {e}")

    async def controls(self, node: str) -> tuple[Control, ...]:
        """The controls of ``node`` with their current values."""
        try:
            return tuple(parse_all(await self._run(node, "--all"))["controls"])
        except V4L2ParseError as e:
            raise ProbeFailed(f"unreadable v4l2-ctl output: {e}")

    async def set_control(self, node: str, name: str, value: int) -> None:
        """Set one control.

        :raises ProbeFailed: the device refused it.
        """
        await self._run(node, f"--set-ctrl={name}={int(value)}")
