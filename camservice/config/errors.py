"""Configuration errors that name the key, the value and the rule broken."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["ConfigError", "ConfigProblem"]

_MISSING = object()


@dataclass(frozen=True)
class ConfigProblem:
    """One broken rule.

    :ivar key: dotted key path, e.g. ``server.port`` (``""`` for the file).
    :ivar rule: what the value must be, in words.
    :ivar value: the offending value, or :data:`_MISSING` when there is none.
    :ivar source: where the value came from: a file path or an
        environment variable name.
    """

    key: str
    rule: str
    value: Any = _MISSING
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        key = self.key or "(top level)"
        if self.value is _MISSING:
            return f"{where}{key}: {self.rule}"
        return f"{where}{key} = {_show(self.value)}: {self.rule}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ConfigError(Exception):
    """A configuration that cannot be used; carries every problem found."""

    def __init__(self, problems: Sequence[ConfigProblem]):
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        """One line per problem, for stderr."""
        return [str(p) for p in self.problems]
