"""A stand-in for ``V4L2Prober`` in unit tests: answers from the
recordings in ``tests/data/v4l2``, fails, or never answers, as a test
says, and remembers every call.

``answers[node]`` is a recording name (``"uvc_c920"``...), a
:class:`~camservice.cameras.v4l2.Probe`, an exception to fail with (e.g.
``ProbeFailed("...")``) or :data:`HANG` (a Deferred that never fires by
itself: the test fires it through :attr:`FakeProber.pending`, or it is
cancelled). Controls hold values per node, so a value that was set is read
back, as from a real device; ``clamp`` lets a test make the "driver"
store something else than what was asked.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import defer

from camservice.cameras.prober import ProbeFailed
from camservice.cameras.v4l2 import Control, Probe, parse_all, parse_probe

__all__ = ["DATA", "HANG", "FakeProber", "probe_of", "recording"]

DATA = Path(__file__).resolve().parent.parent / "data" / "v4l2"
HANG = "hang"


def recording(name: str, kind: str) -> str:
    """The text of ``tests/data/v4l2/{name}_{kind}.txt`` (kind: ``all``
    or ``formats``)."""
    return (DATA / f"{name}_{kind}.txt").read_text()


def probe_of(name: str) -> Probe:
    """The probe of a recorded device, as ``V4L2Prober`` would return it."""
    return parse_probe(recording(name, "all"), recording(name, "formats"))


def controls_of(name: str) -> tuple[Control, ...]:
    return tuple(parse_all(recording(name, "all"))["controls"])


class FakeProber:
    """``probe``/``controls``/``set_control`` as ``V4L2Prober`` has them
    (awaitable Deferreds).

    :ivar calls: ``("probe", node)``, ``("controls", node)``,
        ``("set", node, name, value)`` in call order.
    :ivar pending: ``(node, Deferred)`` of probes that hang, in order.
    :ivar cancelled: nodes whose hanging probe was cancelled.
    :ivar refuse: control name -> reason: ``set_control`` fails with
        ``ProbeFailed(reason)``.
    """

    def __init__(self, default: str = "uvc_c920"):
        self.default = default
        self.answers: dict = {}
        self.calls: list[tuple] = []
        self.pending: list[tuple[str, defer.Deferred]] = []
        self.cancelled: list[str] = []
        self.refuse: dict[str, str] = {}
        self.values: dict[str, dict[str, int]] = {}
        self.clamp: Optional[Callable[[str, int], int]] = None
        self.controls_error: Optional[Exception] = None

    def _answer(self, node: str):
        return self.answers.get(node, self.default)

    def probes(self, node: Optional[str] = None) -> list[str]:
        """Nodes probed so far (only ``node``'s, if given)."""
        return [c[1] for c in self.calls if c[0] == "probe" and (node is None or c[1] == node)]

    def sets(self) -> list[tuple]:
        return [c[1:] for c in self.calls if c[0] == "set"]

    # -- V4L2Prober ------------------------------------------------------

    def probe(self, node: str) -> defer.Deferred:
        self.calls.append(("probe", node))
        answer = self._answer(node)
        if answer == HANG:
            d = defer.Deferred(lambda _: self.cancelled.append(node))
            self.pending.append((node, d))
            return d
        if isinstance(answer, Exception):
            return defer.fail(answer)
        if isinstance(answer, Probe):
            return defer.succeed(answer)
        return defer.succeed(probe_of(answer))

    def controls(self, node: str) -> defer.Deferred:
        self.calls.append(("controls", node))
        if self.controls_error is not None:
            return defer.fail(self.controls_error)
        answer = self._answer(node)
        base = answer.controls if isinstance(answer, Probe) else controls_of(
            answer if isinstance(answer, str) and answer != HANG else self.default)
        values = self.values.get(node, {})
        return defer.succeed(tuple(replace(c, value=values[c.name]) if c.name in values else c for c in base))

    def set_control(self, node: str, name: str, value: int) -> defer.Deferred:
        self.calls.append(("set", node, name, value))
        if name in self.refuse:
            return defer.fail(ProbeFailed(self.refuse[name]))
        stored = self.clamp(name, value) if self.clamp is not None else value
        self.values.setdefault(node, {})[name] = stored
        return defer.succeed(None)
