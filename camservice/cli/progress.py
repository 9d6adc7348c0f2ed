"""A one-line progress bar for downloads, redrawn in place on a terminal
(at most ten times a second) and never written anywhere else."""
from __future__ import annotations

from typing import Optional, TextIO

from camservice.cli.output import human_size

__all__ = ["ProgressBar"]


class ProgressBar:
    """``name  42% [########          ] 1.2 MiB / 2.9 MiB``.

    :param stream: where to draw (stderr); nothing is drawn unless it is a
        terminal.
    :param clock: ``IReactorTime``: redraws are spaced by ``interval``.
    """

    def __init__(self, stream: TextIO, clock, label: str, total: Optional[int], done: int = 0,
                 width: int = 24, interval: float = 0.1):
        self._stream = stream
        self._clock = clock
        self._label = label
        self.total = total
        self.done = done
        self._width = width
        self._interval = interval
        self._drawn_at: Optional[float] = None
        self._shown = _is_terminal(stream)

    def render(self) -> str:
        if self.total:
            fraction = min(1.0, self.done / self.total)
            filled = int(fraction * self._width)
            bar = "#" * filled + " " * (self._width - filled)
            return f"{self._label}  {int(fraction * 100):3d}% [{bar}] {human_size(self.done)} / {human_size(self.total)}"
        return f"{self._label}  {human_size(self.done)}"

    def advance(self, count: int) -> None:
        self.done += count
        now = self._clock.seconds()
        if self._drawn_at is None or now - self._drawn_at >= self._interval:
            self._draw()
            self._drawn_at = now

    def _draw(self) -> None:
        if self._shown:
            self._stream.write("\r" + self.render() + "\x1b[K")
            self._stream.flush()

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self._shown:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
