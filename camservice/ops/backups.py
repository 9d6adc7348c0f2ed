"""Timestamped copies of every accepted configuration.

An administrator whose new file misbehaves in a way no check caught can go
back to the one before. Files may hold secrets: owner-only, written
atomically, the oldest removed beyond the configured count.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from camservice.fileutil import atomic_write, ensure_dir

__all__ = ["ConfigBackups"]

_NAME = re.compile(r"^camservice-\d{8}T\d{6}\.\d{6}Z\.yaml$")


class ConfigBackups:
    """``<data_dir>/config-backups/camservice-<UTC timestamp>.yaml``.

    Blocking: call it in a thread.

    :param folder: where the copies go (made 0700 if missing).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def write(self, text: str, when: float, keep: int) -> Path | None:
        """Save ``text`` as the copy of ``when`` (POSIX seconds), then keep
        only the newest ``keep`` copies.

        :returns: the new file, or ``None`` when ``keep`` is 0.
        """
        if keep <= 0:
            self.prune(0)
            return None
        ensure_dir(self.folder)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(when)) + f".{int(when % 1 * 1e6):06d}Z"
        path = self.folder / f"camservice-{stamp}.yaml"
        atomic_write(path, text.encode("utf-8"), 0o600)
        self.prune(keep)
        return path

    def copies(self) -> list[Path]:
        """The copies, oldest first (names sort by time)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _NAME.match(p.name))

    def prune(self, keep: int) -> None:
        """Remove all but the newest ``keep`` copies."""
        copies = self.copies()
        for path in copies[: max(0, len(copies) - keep)]:
            path.unlink(missing_ok=True)
