"""The manual page keeps up with camctl: every command and exit code."""
from __future__ import annotations

import argparse
from pathlib import Path

from camservice.cli import exits
from camservice.cli.args import build_parser

ROOT = Path(__file__).resolve().parents[3]
PAGE = (ROOT / "debian" / "camctl.1").read_text().replace("\\-", "-")


def test_the_manual_page_names_every_command():
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert [name for name in commands.choices if f".B {name}" not in PAGE] == []


def test_the_manual_page_has_every_exit_code():
    for code, meaning in exits.TABLE:
        assert f".B {code}\n{meaning}\n" in PAGE


def test_the_package_ships_the_page():
    assert "debian/camctl.1" in (ROOT / "debian" / "camservice.manpages").read_text().split()
