"""Finding a MediaMTX binary of a supported version."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Optional

from camservice.errors import StartupError

__all__ = ["PACKAGED_BINARY", "PINNED_VERSION", "SUPPORTED", "find_mediamtx", "is_supported"]

#: the version tools/build-mediamtx.sh builds and the tests run against
PINNED_VERSION = "v1.20.1"
#: where the camservice-mediamtx Debian package installs that build
PACKAGED_BINARY = "/usr/lib/camservice/mediamtx"
#: versions whose Control API (v3) and config keys camservice relies on
SUPPORTED = re.compile(r"^v1\.20\.\d+$")


def is_supported(version: str) -> bool:
    return bool(SUPPORTED.match(version))


def _cached_build(environ: Mapping[str, str]) -> Path:
    cache = environ.get("CAMSERVICE_CACHE") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache"),
        "camservice",
    )
    return Path(cache) / "mediamtx" / PINNED_VERSION / "mediamtx"


def _version_of(binary: str) -> str:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StartupError(f"cannot run {binary} --version: {e}")
    return done.stdout.decode("utf-8", "replace").strip()


def find_mediamtx(
    configured: Optional[str],
    environ: Mapping[str, str] = os.environ,
    packaged: str = PACKAGED_BINARY,
) -> tuple[str, str]:
    """The MediaMTX to run and its version.

    ``configured`` (a path or a command name) wins; otherwise the pinned
    build in the cache (a checkout's), then the packaged one
    (:data:`PACKAGED_BINARY`, a system install's), then ``mediamtx`` on
    ``PATH``. This runs ``mediamtx --version`` synchronously: call it
    before the reactor runs.

    :raises StartupError: none found, or its version is not supported.
    """
    candidates = [configured] if configured else [str(_cached_build(environ)), packaged, "mediamtx"]
    for candidate in candidates:
        found = shutil.which(candidate, path=environ.get("PATH")) if "/" not in candidate else (
            candidate if os.access(candidate, os.X_OK) else None
        )
        if found is None:
            continue
        version = _version_of(found)
        if not is_supported(version):
            raise StartupError(
                f"{found} is MediaMTX {version or '(unknown version)'}; supported: v1.20.x "
                f"(tools/build-mediamtx.sh builds {PINNED_VERSION})"
            )
        return found, version
    raise StartupError(
        "no MediaMTX found: set mediamtx.binary, install camservice-mediamtx, put mediamtx on PATH, "
        "or run tools/build-mediamtx.sh"
        if not configured
        else f"mediamtx.binary {configured!r} is not an executable file"
    )
