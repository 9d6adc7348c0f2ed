"""The download progress bar: drawn in place on a terminal, at most ten
times a second, and never written when stderr is not a terminal."""
from __future__ import annotations

import io

from camservice.cli.progress import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_drawn_in_place_and_throttled(clock):
    term = _Terminal()
    bar = ProgressBar(term, clock, "clip.mp4", total=2048, width=10)
    bar.advance(512)
    bar.advance(512)  # same moment: not drawn again
    clock.advance(0.2)
    bar.advance(1024)
    bar.finish()
    frames = term.getvalue().split("\r")[1:]
    assert frames == [
        "clip.mp4   25% [##        ] 512 B / 2.0 KiB\x1b[K",
        "clip.mp4  100% [##########] 2.0 KiB / 2.0 KiB\x1b[K",
        "clip.mp4  100% [##########] 2.0 KiB / 2.0 KiB\x1b[K\n",
    ]


def test_a_resumed_download_starts_where_it_was():
    from twisted.internet.task import Clock

    bar = ProgressBar(_Terminal(), Clock(), "x", total=100, done=50, width=4)
    assert bar.render() == "x   50% [##  ] 50 B / 100 B"


def test_unknown_total(clock):
    assert ProgressBar(_Terminal(), clock, "x", total=None, done=3000).render() == "x  2.9 KiB"


def test_nothing_written_when_not_a_terminal(clock):
    pipe = io.StringIO()
    bar = ProgressBar(pipe, clock, "clip.mp4", total=10)
    bar.advance(10)
    bar.finish()
    assert pipe.getvalue() == ""
