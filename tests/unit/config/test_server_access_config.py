"""The ``server`` keys for TLS and access: paths resolved, networks
checked, settings that only work together refused with one clear line."""
from __future__ import annotations

import pytest
import yaml

from camservice.config import ConfigError, load_config
from camservice.config.model import ClientIdentity


def _load(tmp_path, server: dict, environ=None):
    path = tmp_path / "camservice.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "server": server}))
    return load_config(path, environ=environ or {}, euid=1000)


def _problems(tmp_path, server: dict, environ=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, server, environ)
    return [f"{p.key}: {p.rule}" for p in info.value.problems]


def test_defaults_leave_tls_off_and_everyone_allowed(tmp_path):
    server = _load(tmp_path, {}).server
    assert not server.tls.enabled and server.tls.min_version == "1.2"
    assert server.allowed_networks == () and server.auth_timeout == 10
    assert server.max_connections_per_address == 64 and server.rate_limit.close_after == 100


def test_tls_paths_are_relative_to_the_file_and_identities_typed(tmp_path):
    server = _load(
        tmp_path,
        {
            "tls": {
                "certificate": "tls/server.crt",
                "client_certificates": "required",
                "client_ca": "tls/ca.pem",
                "client_identities": [{"name": "kiosk.example", "role": "viewer", "cameras": ["camera1"]}],
            }
        },
    ).server
    assert server.tls.certificate == tmp_path / "tls" / "server.crt"
    assert server.tls.client_ca == tmp_path / "tls" / "ca.pem" and server.tls.private_key is None
    assert server.tls.client_identities == (ClientIdentity("kiosk.example", "viewer", ("camera1",)),)


def test_bad_network_names_its_index(tmp_path):
    assert _problems(tmp_path, {"allowed_networks": ["10.0.0.0/8", "10.0.0.0/40"]}) == [
        "server.allowed_networks[1]: must be an IP address or a CIDR network (e.g. 10.0.0.0/8)"
    ]


def test_networks_from_the_environment(tmp_path):
    server = _load(tmp_path, {}, {"CAMSERVICE_SERVER__ALLOWED_NETWORKS": "192.168.1.0/24,::1"}).server
    assert server.allowed_networks == ("192.168.1.0/24", "::1")


@pytest.mark.parametrize(
    "tls, problem",
    [
        ({"private_key": "k.pem"}, "server.tls.private_key: needs server.tls.certificate (TLS is off without it)"),
        (
            {"client_certificates": "required"},
            "server.tls.client_certificates: needs server.tls.certificate (TLS is off without it)",
        ),
        ({"certificate": "c.pem", "client_certificates": "optional"}, "server.tls.client_ca: is required when client_certificates is optional"),
        (
            {"certificate": "c.pem", "client_identities": [{"name": "a.example", "role": "admin"}]},
            "server.tls.client_identities: needs client_certificates optional or required",
        ),
    ],
)
def test_tls_settings_that_need_each_other(tmp_path, tls, problem):
    assert _problems(tmp_path, {"tls": tls}) == [problem]


def test_identity_role_must_be_a_role(tmp_path):
    problems = _problems(
        tmp_path,
        {"tls": {"certificate": "c.pem", "client_certificates": "required", "client_ca": "ca.pem",
                 "client_identities": [{"name": "a.example", "role": "root"}]}},
    )
    assert len(problems) == 1 and problems[0].startswith("server.tls.client_identities[0].role")
