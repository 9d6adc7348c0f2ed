"""The documentation keeps up with the code: the generated configuration
page matches the schema, and the API reference covers every method and
error code the server has."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from twisted.internet.task import Clock

from camservice.config import load_config
from camservice.metrics import Metrics
from camservice.rpc import errors
from helpers.harness import make_harness

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "gen_config_doc.py"
API_DOC = ROOT / "docs" / "api.rst"

#: a row of the roles table: ``method``, least role, availability
_ROLE_ROW = re.compile(r"^``([a-z_]+)``\s+(none|viewer|operator|admin)\s+(yes|not yet available)\s*$")


def _method_table():
    clock = Clock()
    clock.advance(1_700_000_000)
    harness = make_harness(load_config(environ={}, euid=1000), clock)
    harness.stop()
    return harness.dispatcher.table


def _section_titles(text: str) -> set[str]:
    """Titles of reStructuredText sections (a line underlined by a line of
    one punctuation character at least as long)."""
    lines = text.splitlines()
    titles = set()
    for title, underline in zip(lines, lines[1:]):
        title = title.strip()
        if (
            title
            and len(underline) >= len(title)
            and len(set(underline)) == 1
            and not underline[0].isalnum()
            and not underline[0].isspace()
        ):
            titles.add(title)
    return titles


def _role_rows(text: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in text.splitlines():
        match = _ROLE_ROW.match(line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_configuration_page_is_up_to_date():
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, (
        "docs/configuration.rst is stale; run: .venv/bin/python tools/gen_config_doc.py\n" + result.stderr
    )


def test_every_registered_method_is_documented():
    text = API_DOC.read_text("utf-8")
    titles = _section_titles(text)
    rows = _role_rows(text)
    for spec in _method_table():
        assert spec.name in titles, f"docs/api.rst has no section for method {spec.name}"
        assert spec.name in rows, f"docs/api.rst's roles table lacks {spec.name}"
        role = spec.role.name if spec.role is not None else "none"
        assert rows[spec.name] == (role, "yes"), (
            f"docs/api.rst's roles table says {spec.name} is {rows[spec.name]}, the code ({role}, yes)"
        )


def test_roles_table_says_which_methods_are_available():
    table = _method_table()
    rows = _role_rows(API_DOC.read_text("utf-8"))
    assert rows, "the roles table of docs/api.rst was not found"
    for name, (_role, availability) in rows.items():
        if availability == "yes":
            assert name in table, f"docs/api.rst says {name} is available, but it is not registered"
        else:
            assert name not in table, f"docs/api.rst says {name} is not yet available, but it is registered"


def test_every_error_code_is_documented():
    text = API_DOC.read_text("utf-8")
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.RpcError) and obj is not errors.RpcError
    ]
    assert classes
    for cls in classes:
        row = re.search(rf"^{re.escape(str(cls.code))}\s+{re.escape(cls.message)}\s", text, re.M)
        assert row, f"docs/api.rst's error table lacks {cls.code} {cls.message!r} ({cls.__name__})"


def test_every_metric_is_documented():
    text = API_DOC.read_text("utf-8")
    for family in Metrics().registry.collect():
        exposed = family.name + ("_total" if family.type == "counter" else "")
        assert f"``{exposed}``" in text, f"docs/api.rst does not list the metric {exposed}"
