"""``camservice-admin check-config`` loads the TLS files the service would."""
from __future__ import annotations

from camservice.admin import main
from helpers.certs import CertificateAuthority


def test_check_config_loads_the_tls_certificate(write_config, tmp_path, capsys):
    cert, key = CertificateAuthority().server().write(tmp_path, "server")
    path = write_config({"server": {"tls": {"certificate": str(cert), "private_key": str(key)}}})
    assert main(["--config", str(path), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "API:      wss://127.0.0.1:8002/ws" in out.splitlines()


def test_check_config_reports_a_bad_key_in_one_line(write_config, tmp_path, capsys):
    ca = CertificateAuthority()
    cert, _ = ca.server().write(tmp_path, "server")
    _, other = ca.server().write(tmp_path, "other")
    path = write_config({"server": {"tls": {"certificate": str(cert), "private_key": str(other)}}})
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"camservice-admin: config error: server.tls.private_key = '{other}': does not fit")
