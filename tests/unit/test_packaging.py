"""What setup.py ships: every folder of modules is a package, and every
data file the code reads is in package_data (tests/integration/test_install.py
runs the result)."""
from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "camservice"


def _package_data() -> dict[str, list[str]]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "package_data":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no package_data")


def _source_files():
    return [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_every_folder_of_modules_is_a_package():
    folders = {p.parent for p in _source_files() if p.suffix == ".py"}
    assert sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists()) == []


def test_every_data_file_is_package_data():
    data = _package_data()
    unshipped = []
    for path in _source_files():
        if path.suffix in (".py", ".pyc"):
            continue
        # a pattern of a package matches paths below it ("static/*.js")
        parts = path.relative_to(ROOT).parts
        if not any(
            fnmatch.fnmatch("/".join(parts[i:]), pattern)
            for i in range(1, len(parts))
            for pattern in data.get(".".join(parts[:i]), [])
        ):
            unshipped.append(str(path.relative_to(ROOT)))
    assert unshipped == []


def test_the_twistd_plugin_has_no_package_init():
    # Twisted finds plugins in every twisted/plugins folder on sys.path; an
    # __init__.py of ours would shadow Twisted's own twisted.plugins
    assert (ROOT / "twisted" / "plugins" / "camservice_plugin.py").exists()
    assert not (ROOT / "twisted" / "plugins" / "__init__.py").exists()
    assert not (ROOT / "twisted" / "__init__.py").exists()


def test_the_debian_version_is_the_package_version():
    from camservice import __version__

    first = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    assert first.startswith(f"camservice ({__version__}) ")


def test_the_manual_page_names_every_admin_command():
    import argparse

    from camservice.admin import _parser

    page = (ROOT / "debian" / "camservice-admin.1").read_text().replace("\\-", "-")
    (commands,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [name for name in commands.choices if f".B {name}" not in page]
    assert missing == []
