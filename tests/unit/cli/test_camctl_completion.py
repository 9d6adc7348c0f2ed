"""The bash completion script: shipped, generated from the parser (never
stale), valid bash, completing subcommands, options and choices."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from camservice.cli.args import build_parser
from camservice.cli.completion import generate, script
from camservice.cli.main import run

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "camservice" / "cli" / "camctl.bash"


def test_the_shipped_script_is_the_generated_one():
    assert SHIPPED.read_text() == generate(build_parser()), (
        "regenerate: python -m camservice.cli.completion > camservice/cli/camctl.bash")


def test_camctl_completion_bash_prints_it():
    out = io.StringIO()
    assert run(["completion", "bash"], environ={}, stdout=out) == 0
    assert out.getvalue() == SHIPPED.read_text() == script("bash")


def test_the_deb_installs_it_where_bash_completion_looks():
    rules = (ROOT / "debian" / "rules").read_text()
    assert "camservice/cli/camctl.bash" in rules
    assert "usr/share/bash-completion/completions/camctl" in rules


def _complete(words: list[str]) -> list[str]:
    probe = (f"source {SHIPPED}; COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
             '_camctl; printf "%s\\n" "${COMPREPLY[@]}"')
    # no camctl on PATH: completions that ask the server offer nothing
    done = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_completions():
    assert shutil.which("bash")
    assert _complete(["camctl", "s"]) == ["status", "snapshot", "stop", "stream-url", "sessions"]
    assert _complete(["camctl", "files", ""]) == ["recordings", "snapshots"]
    assert _complete(["camctl", "--json", "files", "r"]) == ["recordings"]
    assert _complete(["camctl", "--url", "ws://h/ws", "record", "camera0", "--format", ""]) == ["fmp4", "mp4", "mkv"]
    assert _complete(["camctl", "watch", "recording.s"]) == ["recording.start", "recording.stop"]
    assert "--duration" in _complete(["camctl", "record", "--"])
    assert _complete(["camctl", "stream-url", "camera0", "--protocol", "w"]) == ["webrtc"]
    assert _complete(["camctl", "completion", ""]) == ["bash"]
    assert "--password-file" in _complete(["camctl", "fleet", "--pa"])
    # a value of a top-level option is not taken for the subcommand
    assert _complete(["camctl", "--timeout", "5", "ca"]) == ["cameras"]
