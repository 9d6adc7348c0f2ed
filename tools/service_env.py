"""The environment the systemd unit gives camservice, for running it
outside systemd as shipped (tools/run.sh, the tests, the benchmarks).

conf/camservice.service (the unit the Debian package installs) is the one
source: its ``Environment=`` lines are read here, not copied.
``PYTHONPYCACHEPREFIX`` names the unit's cache folder
(``CacheDirectory=``), which only the service user may write, so a run
outside systemd gets a folder of its own instead.

    python3 tools/service_env.py [--pycache DIR] [--unit FILE]

prints the unit's assignments as ``NAME=VALUE`` lines (for ``env``).
Only the standard library is used.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["UNIT", "PYCACHE", "unit_environment", "unit_settings", "service_env"]

UNIT = Path(__file__).resolve().parent.parent / "conf" / "camservice.service"
#: where a run outside systemd keeps its bytecode (as the unit's cache does)
PYCACHE = Path.home() / ".cache" / "camservice" / "pycache"
#: set in many development shells; it would keep the bytecode cache empty,
#: and every start would compile every module again
_DROPPED = ("PYTHONDONTWRITEBYTECODE",)


def unit_settings(unit: Path = UNIT, section: str = "Service") -> list[tuple[str, str]]:
    """The ``Key=value`` lines of one section of a unit file, in order
    (comments and blank lines left out, continuation lines joined).

    :raises OSError: the file cannot be read.
    """
    settings: list[tuple[str, str]] = []
    current = None
    pending = ""
    for raw in unit.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        if current == section and "=" in line:
            key, value = line.split("=", 1)
            settings.append((key.strip(), value.strip()))
    return settings


def unit_environment(unit: Path = UNIT) -> dict[str, str]:
    """The variables the unit's ``Environment=`` lines set, as systemd
    reads them: whitespace-separated assignments, quotes allowed, a later
    assignment of a name replacing an earlier one.

    :raises ValueError: an assignment without ``=``.
    """
    env: dict[str, str] = {}
    for key, value in unit_settings(unit):
        if key != "Environment":
            continue
        for assignment in shlex.split(value):
            name, sep, val = assignment.partition("=")
            if not sep or not name:
                raise ValueError(f"{unit}: Environment= assignment without a name: {assignment!r}")
            env[name] = val
    return env


def service_env(base: Optional[Mapping[str, str]] = None, pycache: Optional[Path] = None,
                unit: Path = UNIT) -> dict[str, str]:
    """A whole environment for camservice run as the unit runs it.

    :param base: the environment to start from (default ``os.environ``);
        ``PYTHONDONTWRITEBYTECODE`` is dropped from it.
    :param pycache: the bytecode cache folder to use instead of the unit's
        (default :data:`PYCACHE`); made if missing.
    :returns: ``base`` with the unit's variables set over it.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _DROPPED}
    unit_env = unit_environment(unit)
    if "PYTHONPYCACHEPREFIX" in unit_env:
        folder = Path(pycache or PYCACHE)
        folder.mkdir(parents=True, exist_ok=True)
        unit_env["PYTHONPYCACHEPREFIX"] = str(folder)
    env.update(unit_env)
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Print the camservice unit's environment as NAME=VALUE lines.")
    ap.add_argument("--pycache", type=Path, default=None, help=f"bytecode cache folder (default {PYCACHE})")
    ap.add_argument("--unit", type=Path, default=UNIT, help=f"unit file (default {UNIT})")
    args = ap.parse_args(argv)
    env = service_env({}, args.pycache, args.unit)
    for name, value in env.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
