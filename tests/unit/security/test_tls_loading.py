"""Loading the API's TLS settings: one clear problem per bad file, TLS 1.2
at least, and client certificates mapped to principals."""
from __future__ import annotations

import pytest
from OpenSSL import SSL, crypto

from camservice.auth.roles import Role
from camservice.config.errors import ConfigError
from camservice.config.model import ClientIdentity, TlsConfig
from camservice.security.tls import CertificateIdentities, load_server_tls
from helpers.certs import CertificateAuthority

CA = CertificateAuthority()


def _x509(issued):
    return crypto.load_certificate(crypto.FILETYPE_PEM, issued.cert_pem)


@pytest.fixture
def files(tmp_path):
    cert, key = CA.server().write(tmp_path, "server")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(CA.cert_pem)
    return tmp_path, cert, key, ca


def _only_problem(config: TlsConfig):
    with pytest.raises(ConfigError) as info:
        load_server_tls(config)
    assert len(info.value.problems) == 1
    return info.value.problems[0]


def test_loads_and_refuses_tls_below_1_2(files):
    _, cert, key, ca = files
    tls = load_server_tls(TlsConfig(certificate=cert, private_key=key, client_certificates="optional", client_ca=ca))
    options = tls._context.set_options(0)  # adds nothing, returns the options in force
    for flag in ("OP_NO_SSLv3", "OP_NO_TLSv1", "OP_NO_TLSv1_1"):
        assert options & getattr(SSL, flag), flag
    assert not options & SSL.OP_NO_TLSv1_2
    assert tls.not_after is not None


def test_minimum_1_3_refuses_1_2(files):
    _, cert, key, _ = files
    tls = load_server_tls(TlsConfig(certificate=cert, private_key=key, min_version="1.3"))
    assert tls._context.set_options(0)  # adds nothing, returns the options in force & SSL.OP_NO_TLSv1_2


def test_key_and_certificate_in_one_file(files, tmp_path):
    _, cert, key, _ = files
    both = tmp_path / "both.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    assert load_server_tls(TlsConfig(certificate=both)) is not None


def test_missing_certificate_file_is_one_problem(tmp_path):
    problem = _only_problem(TlsConfig(certificate=tmp_path / "nope.crt", private_key=tmp_path / "nope.key"))
    assert problem.key == "server.tls.certificate"
    assert problem.rule == "cannot be read: No such file or directory"
    assert "\n" not in str(problem)


def test_file_without_pem_is_one_problem(files, tmp_path):
    _, _, key, _ = files
    junk = tmp_path / "junk.crt"
    junk.write_text("hello\n")
    problem = _only_problem(TlsConfig(certificate=junk, private_key=key))
    assert problem.key == "server.tls.certificate"
    assert "no PEM certificate" in problem.rule


def test_key_of_another_certificate_is_one_problem(files, tmp_path):
    _, cert, _, _ = files
    _, other_key = CA.server().write(tmp_path, "other")
    problem = _only_problem(TlsConfig(certificate=cert, private_key=other_key))
    assert problem.key == "server.tls.private_key"
    assert problem.rule.startswith("does not fit the certificate")


def test_encrypted_key_is_refused_with_a_reason(files, tmp_path):
    _, cert, _, _ = files
    encrypted = tmp_path / "enc.key"
    encrypted.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    problem = _only_problem(TlsConfig(certificate=cert, private_key=encrypted))
    assert problem.key == "server.tls.private_key" and "encrypted" in problem.rule


def test_unreadable_client_ca_is_one_problem(files, tmp_path):
    _, cert, key, _ = files
    problem = _only_problem(
        TlsConfig(certificate=cert, private_key=key, client_certificates="required", client_ca=tmp_path / "x.pem")
    )
    assert problem.key == "server.tls.client_ca"


def test_client_certificate_names_map_to_principals():
    identities = CertificateIdentities(
        (
            ClientIdentity("kiosk.cameras.test", "viewer", ("camera1",)),
            ClientIdentity("ops.cameras.test", "operator"),
        )
    )
    kiosk = identities.principal_for(_x509(CA.issue("k", ("kiosk.cameras.test",), client=True)))
    assert kiosk.user_id == "cert:kiosk.cameras.test" and kiosk.role is Role.viewer
    assert kiosk.cameras == frozenset({"camera1"}) and kiosk.method == "certificate"
    assert kiosk.credential_id.startswith("sha256:") and kiosk.expires_at is not None
    # a wildcard in the certificate covers the configured name
    ops = identities.principal_for(_x509(CA.issue("o", ("*.cameras.test",), client=True)))
    assert ops.role is Role.viewer  # the first configured name it holds wins
    # the common name alone is not enough: names come from subjectAltName
    assert identities.principal_for(_x509(CA.issue("ops.cameras.test", client=True))) is None
    assert identities.principal_for(_x509(CA.issue("x", ("other.example",), client=True))) is None
    assert identities.principal_for(None) is None
