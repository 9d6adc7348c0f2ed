"""``twistd camservice`` run as a user runs it, stopped once makeService has
built the service tree: a piece of code then runs in that process and
reports what it found, and the process exits before anything starts.

What a module-level import or a start-up step leaves in the process is
only visible there, not in the test process, which has imported all of
camservice and its test helpers already.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

_TEMPLATE = r"""
import json, os, sys
import camservice.tap as tap
CONFIG, ARGS = sys.argv[1], json.loads(sys.argv[2])
%(before)s
build = tap.makeService
def probe(options):
    build(options)
    report = {}
%(body)s
    print("REPORT " + json.dumps(report), flush=True)
    os._exit(0)
tap.makeService = probe
from twisted.scripts.twistd import run
sys.argv = ["twistd", "-n", "--pidfile=", "camservice", "--config", sys.argv[1]]
run()
"""


def probe_built_service(config_path: Path, body: str, before: str = "", args: Optional[dict] = None,
                        timeout: float = 120) -> dict:
    """The ``report`` dict that ``body`` fills in, run right after
    makeService built the tree for ``config_path``.

    :param body: statements run in ``probe(options)``; they see ``options``,
        ``ARGS`` and ``report``.
    :param before: statements run before twistd starts (imports done by
        then are camservice.tap's and the test's own).
    :param args: JSON-able values the code reads as ``ARGS``.
    """
    code = _TEMPLATE % {"before": textwrap.dedent(before),
                        "body": textwrap.indent(textwrap.dedent(body), "    ")}
    out = subprocess.run([sys.executable, "-c", code, str(config_path), json.dumps(args or {})],
                         cwd=str(config_path.parent), capture_output=True, text=True, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, f"twistd did not build the service: {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return json.loads(lines[-1][len("REPORT "):])
