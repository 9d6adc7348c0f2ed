"""Refusals of the security rules, each naming the rule it broke."""
from __future__ import annotations

__all__ = ["BadStreamURL", "TargetRefused"]


class _Refused(ValueError):
    """A refusal: ``rule`` says which rule in words, ``hint`` what to do.

    Neither ever holds the refused URL (it may carry credentials).
    """

    def __init__(self, rule: str, hint: str):
        super().__init__(rule)
        self.rule = rule
        self.hint = hint


class BadStreamURL(_Refused):
    """A stream URL that is not well formed."""


class TargetRefused(_Refused):
    """A stream URL naming a host or port camservice must not connect to."""
