"""The SSH manhole with OpenSSH's own client: the right key gets a prompt
that sees the service tree, a wrong key is refused, loopback only."""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_twisted
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.internet import reactor, task

from helpers.processes import Child, run

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")


@dataclass
class KeyPair:
    private: Path
    public_line: str


def _key_pair(folder: Path, name: str) -> KeyPair:
    key = ed25519.Ed25519PrivateKey.generate()
    private = folder / name
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return KeyPair(private, public.decode() + f" {name}@test")


@pytest.fixture
def keys(tmp_path):
    folder = tmp_path / "ssh"
    folder.mkdir(mode=0o700)
    good, bad = _key_pair(folder, "good"), _key_pair(folder, "bad")
    authorized = tmp_path / "authorized_keys"
    authorized.write_text("# maintainers\nnot a key line\n" + good.public_line + "\n")
    authorized.chmod(0o600)
    return {"good": good, "bad": bad, "authorized": authorized}


@pytest.fixture
def service_settings(keys):
    return {"manhole": {"enabled": True, "port": 0, "authorized_keys_file": str(keys["authorized"])}}


def _ssh(port: int, key: KeyPair, *extra: str) -> Child:
    argv = [
        shutil.which("ssh"), "-F", "/dev/null", "-tt",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey",
        "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
        "-i", str(key.private), "-p", str(port), *extra, "maintainer@127.0.0.1",
    ]
    return Child(reactor, argv, env={"TERM": "xterm"})


async def _wait_for(child: Child, marker: str, timeout: float = 20.0) -> None:
    deadline = reactor.seconds() + timeout
    while marker not in child.stdout:
        if child.ended.called or reactor.seconds() > deadline:
            raise AssertionError(f"no {marker!r} in the session:\n{child.stdout!r}\n{child.stderr}")
        await task.deferLater(reactor, 0.05, lambda: None)


@pytest_twisted.ensureDeferred
async def test_the_right_key_gets_a_prompt_that_sees_the_service_tree(live, keys, log_events):
    manhole = live.tree.getServiceNamed("manhole")
    host, port = manhole.listening
    assert host == "127.0.0.1"
    host_key = live.config.manhole.host_key_file
    assert host_key.stat().st_mode & 0o777 == 0o600
    audit = log_events("camservice.audit")

    child = _ssh(port, keys["good"])
    try:
        await _wait_for(child, ">>> ")
        assert "camservice manhole" in child.stdout
        child.transport.write(b'"CAMERAS=%d" % len(registry.cameras())\r')
        await _wait_for(child, "'CAMERAS=1'")
        child.transport.write(b'"BREAKER=" + controller.breaker.state.value\r')
        await _wait_for(child, "'BREAKER=closed'")
        child.transport.write(b'"API=%s" % (services("api") is api and root is services("api").parent)\r')
        await _wait_for(child, "'API=True'")
        child.transport.write(b'"IDS=" + ",".join(c.id for c in registry.cameras())\r')
        await _wait_for(child, "'IDS=camera1000'")
        child.transport.write(b"\x04")  # ^D on an empty line ends the session
        closer = reactor.callLater(15, child.signal, "KILL")
        await child.ended
        if closer.active():
            closer.cancel()
    finally:
        await child.stop()
    logins = [e for e in audit if e.get("what") == "manhole_login"]
    assert [(e["outcome"], e["who"], e["audit"]) for e in logins] == [("success", "maintainer", True)]


@pytest_twisted.ensureDeferred
async def test_a_wrong_key_is_refused(live, keys, log_events):
    _, port = live.tree.getServiceNamed("manhole").listening
    audit = log_events("camservice.audit")
    child = _ssh(port, keys["bad"])
    try:
        killer = reactor.callLater(20, child.signal, "KILL")
        code = await child.ended
        if killer.active():
            killer.cancel()
    finally:
        await child.stop()
    assert code == 255
    assert "Permission denied" in child.stderr
    assert ">>>" not in child.stdout
    refused = [e for e in audit if e.get("what") == "manhole_login"]
    assert refused and all(e["outcome"] == "denied" for e in refused)
    assert refused[0]["who"] == "maintainer" and refused[0]["audit"] is True
    assert refused[0]["reason"] == "Key not authorized"


@pytest_twisted.ensureDeferred
async def test_removing_a_key_from_the_file_locks_it_out_without_a_restart(live, keys):
    _, port = live.tree.getServiceNamed("manhole").listening
    keys["authorized"].write_text("")
    child = _ssh(port, keys["good"])
    try:
        killer = reactor.callLater(20, child.signal, "KILL")
        code = await child.ended
        if killer.active():
            killer.cancel()
    finally:
        await child.stop()
    assert code == 255 and "Permission denied" in child.stderr


@pytest_twisted.ensureDeferred
async def test_conch_is_not_imported_when_the_manhole_is_off(tmp_path, clean_env):
    script = (
        "import sys\n"
        "from twisted.internet import reactor\n"
        "from camservice.app import build_service\n"
        "from camservice.config import load_config\n"
        "tree = build_service(load_config(), 'x' * 40, reactor)\n"
        "assert 'manhole' not in [s.name for s in tree]\n"
        "print(sorted(m for m in sys.modules if m.startswith('twisted.conch')))\n"
    )
    code, out, err = await run(reactor, [sys.executable, "-c", script], env={"CAMSERVICE_DATA_DIR": str(tmp_path)})
    assert code == 0, err
    assert out.strip() == "[]"
