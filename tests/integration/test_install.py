"""camservice as pip installs it: an sdist of the tree, a wheel built from
that sdist, installed (not editable) into a fresh virtualenv, and
``twistd camservice`` started from it. A module or data file missing from
setup.py or MANIFEST.in fails here; editable installs would hide it.

The virtualenv reuses Debian's packaged dependencies
(``--system-site-packages``, all installed by tools/bootstrap.sh) and gets
only the wheel (``--no-deps``), which keeps the test at seconds and off the
network; the PyPI releases are covered by the rest of the suite on .venv.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from helpers.installs import SYSTEM_PYTHON, copy_tree, skip_reason
from helpers.processes import TWISTD, Child, free_port, mediamtx_ports, wait_for_http
from helpers.wsclient import connect

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


async def _ok(argv, what: str, cwd: Path, env=None, timeout: float = 120.0) -> str:
    """Run ``argv`` in ``cwd`` (never the checkout: ``python -c`` imports
    from its working folder); its stdout. It must exit 0."""
    child = Child(reactor, argv, env=env, cwd=str(cwd))
    killer = reactor.callLater(timeout, child.signal, "KILL")
    code = await child.ended
    if killer.active():
        killer.cancel()
    assert code == 0, f"{what} failed ({code}):\n{child.stdout}\n{child.stderr}"
    return child.stdout


async def _build_wheel(tmp_path: Path) -> Path:
    tree = copy_tree(tmp_path / "src")
    sdist_dir, wheel_dir = tmp_path / "sdist", tmp_path / "wheel"
    await _ok([SYSTEM_PYTHON, "setup.py", "-q", "sdist", "-d", str(sdist_dir)], "sdist", tree)
    (sdist,) = sdist_dir.glob("camservice-*.tar.gz")
    await _ok([SYSTEM_PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
               "-w", str(wheel_dir), str(sdist)], "pip wheel", tmp_path)
    (wheel,) = wheel_dir.glob("camservice-*.whl")
    return wheel


@pytest_twisted.ensureDeferred
async def test_a_wheel_installed_into_a_fresh_venv_serves(tmp_path, clean_env):
    clean_env.delenv("PYTHONPATH", raising=False)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    wheel = await _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    # no pip of its own: Debian's (a system site package) installs into it
    await _ok([SYSTEM_PYTHON, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], "venv", run_dir)
    python = str(venv / "bin" / "python")
    await _ok([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], "pip install", run_dir)

    # the package, its data and the plugin all come from the venv
    out = await _ok([python, "-c", (
        "import json, camservice, camservice.mediamtx, camservice.server.site, "
        "twisted.plugins.camservice_plugin as p; "
        "from camservice.config import default_config_path; "
        "print(json.dumps([camservice.__file__, p.__file__, str(default_config_path())]))"
    )], "import", run_dir)
    for path in json.loads(out):
        assert Path(path).is_relative_to(venv), path
    admin = venv / "bin" / "camservice-admin"
    assert admin.exists()

    port = free_port()
    env = {
        "CAMSERVICE_DATA_DIR": str(tmp_path / "state"),
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",
    }
    env.update({f"CAMSERVICE_MEDIAMTX__{k.upper()}": str(v) for k, v in mediamtx_ports().items()})
    child = Child(reactor, [python, "-c", TWISTD, "-n", "--pidfile=", "camservice"], env=env, cwd=str(run_dir))
    try:
        alive = await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", child)
        assert alive.code == 200
        # the web console and its vendored player ship in the package
        page = await wait_for_http(reactor, f"http://127.0.0.1:{port}/", child)
        assert page.code == 200 and b"/console/app.js" in await page.content()
        hls = await wait_for_http(reactor, f"http://127.0.0.1:{port}/console/vendor/hls.min.js", child)
        assert hls.code == 200 and len(await hls.content()) > 100_000
        token = (await _ok([str(admin), "token", "--role", "viewer"], "camservice-admin", run_dir, env=env)).split()[-1]
        client = await connect(reactor, f"ws://127.0.0.1:{port}/ws", port)
        assert (await client.call("authenticate", {"auth_token": token}))["result"]["role"] == "viewer"
        cameras = (await client.call("get_camera_list"))["result"]["cameras"]
        assert [c["device"] for c in cameras] == ["camera1000"]
        exit_code = await child.stop()
    finally:
        await child.stop()
    assert exit_code == 0, child.stdout + child.stderr
    assert "Traceback" not in child.stdout + child.stderr
