"""Errors of the operations tools."""
from __future__ import annotations

from typing import Sequence

__all__ = ["ReloadRefused"]


class ReloadRefused(Exception):
    """A configuration reload was refused; the running config stays.

    :ivar stage: ``load`` (the file or environment is invalid), ``check``
        (a setting cannot change while running) or ``apply`` (a service
        failed to take it; those already changed were rolled back).
    :ivar reasons: one line per problem, naming the key or the service.
    """

    def __init__(self, stage: str, reasons: Sequence[str]):
        self.stage = stage
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons))
