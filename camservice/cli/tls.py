"""TLS for ``wss://`` and ``https://``: the server's name checked against
its certificate, trusting the ``--ca-file`` CAs or the system's store."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from zope.interface import implementer

from camservice.cli.exits import USAGE, CliError

__all__ = ["client_options", "https_policy"]

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _trust_root(ca_file: Optional[Path]):
    from twisted.internet import ssl

    if ca_file is None:
        return ssl.platformTrust()
    try:
        data = ca_file.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read the CA file {ca_file}: {e.strerror}", USAGE) from None
    blocks = _PEM.findall(data)
    if not blocks:
        raise CliError(f"the CA file {ca_file} holds no PEM certificate", USAGE)
    try:
        return ssl.trustRootFromCertificates([ssl.Certificate.loadPEM(b) for b in blocks])
    except Exception as e:  # pyOpenSSL's errors name nothing useful
        raise CliError(f"the CA file {ca_file} holds an unreadable certificate: {e}", USAGE) from None


def _client_certificate(cert: Optional[Path], key: Optional[Path]):
    """The client certificate (and its key) to present, or ``None``."""
    from twisted.internet import ssl

    if cert is None:
        return None
    try:
        pem = cert.read_bytes() + (b"\n" + key.read_bytes() if key is not None else b"")
    except OSError as e:
        raise CliError(f"cannot read the client certificate or key {e.filename}: {e.strerror}", USAGE) from None
    try:
        return ssl.PrivateCertificate.loadPEM(pem)
    except Exception as e:  # pyOpenSSL's errors name nothing useful
        raise CliError(f"{cert}{' and ' + str(key) if key else ''}: not a PEM certificate and its key ({e})",
                       USAGE) from None


def client_options(target):
    """``IOpenSSLClientConnectionCreator`` for the target's host (a name or
    an IP address), with its trust and client certificate."""
    from twisted.internet import ssl

    options = {}
    client = _client_certificate(target.client_cert, target.client_key)
    if client is not None:
        options["clientCertificate"] = client
    return ssl.optionsForClientTLS(target.host, trustRoot=_trust_root(target.ca_file), **options)


def https_policy(target):
    """An ``IPolicyForHTTPS`` for treq's Agent, with the same trust and certificate."""
    from twisted.web.iweb import IPolicyForHTTPS

    root = _trust_root(target.ca_file)
    client = _client_certificate(target.client_cert, target.client_key)

    @implementer(IPolicyForHTTPS)
    class _Policy:
        def creatorForNetloc(self, hostname, port):
            from twisted.internet import ssl

            options = {"clientCertificate": client} if client is not None else {}
            return ssl.optionsForClientTLS(hostname.decode("ascii"), trustRoot=root, **options)

    return _Policy()
