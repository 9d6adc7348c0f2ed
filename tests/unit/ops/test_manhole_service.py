"""The manhole service on paper: loopback only, the host key made once."""
from __future__ import annotations

import pytest

from camservice.config.model import ManholeConfig
from camservice.errors import StartupError
from camservice.ops.manhole import ManholeService, load_or_create_host_key


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "localhost", ""])
def test_any_address_beyond_loopback_is_refused(memory_reactor, host):
    with pytest.raises(StartupError, match="loopback"):
        ManholeService(ManholeConfig(enabled=True, host=host), memory_reactor, dict, None)


def test_listens_on_loopback_only(memory_reactor, tmp_path):
    config = ManholeConfig(enabled=True, host="127.0.0.1", port=0,
                           authorized_keys_file=tmp_path / "keys", host_key_file=tmp_path / "state" / "host-key")
    svc = ManholeService(config, memory_reactor, dict, None)
    svc.startService()
    ((port, _factory, _backlog, interface),) = memory_reactor.tcpServers
    assert (port, interface) == (0, "127.0.0.1")
    svc.stopService()


def test_the_host_key_is_made_once_owner_only(tmp_path):
    path = tmp_path / "state" / "host-key"
    first = load_or_create_host_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert first.isPublic() is False and first.sshType() == b"ssh-ed25519"
    again = load_or_create_host_key(path)
    assert again == first


def test_an_unreadable_host_key_is_a_startup_error(tmp_path):
    path = tmp_path / "host-key"
    path.write_text("not a key")
    with pytest.raises(StartupError, match="manhole.host_key_file"):
        load_or_create_host_key(path)


def _config(tmp_path, **kw) -> ManholeConfig:
    base = dict(enabled=True, host="127.0.0.1", port=0, authorized_keys_file=tmp_path / "keys",
                host_key_file=tmp_path / "state" / "host-key")
    base.update(kw)
    return ManholeConfig(**base)


def test_apply_listens_again_only_when_the_address_changes(memory_reactor, tmp_path):
    from dataclasses import replace

    svc = ManholeService(_config(tmp_path), memory_reactor, dict, None)
    svc.startService()
    first = svc.port
    svc.apply(replace(svc.config, authorized_keys_file=tmp_path / "other"))
    assert svc.port is first and svc.config.authorized_keys_file == tmp_path / "other"
    svc.apply(replace(svc.config, port=2223))
    assert svc.port is not first
    assert [(p, i) for p, _f, _b, i in memory_reactor.tcpServers] == [(0, "127.0.0.1"), (2223, "127.0.0.1")]
    failed = []
    svc.apply(replace(svc.config, host="0.0.0.0")).addErrback(failed.append)
    assert failed and failed[0].check(StartupError)
    assert svc.config.port == 2223  # the refused one is not kept
    svc.stopService()


@pytest.mark.parametrize("mode, ok", [(0o600, True), (0o644, True), (0o664, False), (0o646, False)])
def test_a_keys_file_others_may_write_lets_no_one_in(tmp_path, mode, ok):
    from camservice.ops.manhole import keys_file_problem

    path = tmp_path / "keys"
    path.write_text("")
    path.chmod(mode)
    assert (keys_file_problem(path) is None) is ok
    assert "cannot read" in keys_file_problem(tmp_path / "missing")
