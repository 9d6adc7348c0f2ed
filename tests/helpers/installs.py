"""Copies of the source tree and installed camservices for the install
tests: whatever runs there comes from what was built, never the checkout."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
#: Debian's Python: the one the .deb runs on and the wheel test builds with
SYSTEM_PYTHON = "/usr/bin/python3"
#: tools/test.sh sets it for its second run: the install tests use the
#: system Python whatever venv runs pytest, so once is enough
SKIP_VARIABLE = "SKIP_INSTALL_TESTS"


def skip_reason() -> str | None:
    """Why the install tests cannot or need not run here, or ``None``."""
    if os.environ.get(SKIP_VARIABLE):
        return f"{SKIP_VARIABLE} is set: already run on the first venv"
    if not (ROOT / ".git").exists():
        return "not a git checkout: the tree to build is what git tracks"
    return None


def copy_tree(dest: Path) -> Path:
    """Copy the files git tracks (or would: untracked, not ignored) into
    ``dest``, as a fresh clone would have them; ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.split(b"\0")
    dest.mkdir(parents=True)
    for raw in filter(None, listed):
        name = os.fsdecode(raw)
        source = ROOT / name
        if not os.path.lexists(source):  # deleted, not yet committed
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return dest

