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


def client_options(host: str, ca_file: Optional[Path]):
    """``IOpenSSLClientConnectionCreator`` for ``host`` (a name or an IP address)."""
    from twisted.internet import ssl

    return ssl.optionsForClientTLS(host, trustRoot=_trust_root(ca_file))


def https_policy(ca_file: Optional[Path]):
    """An ``IPolicyForHTTPS`` for treq's Agent, with the same trust."""
    from twisted.web.iweb import IPolicyForHTTPS

    root = _trust_root(ca_file)

    @implementer(IPolicyForHTTPS)
    class _Policy:
        def creatorForNetloc(self, hostname, port):
            from twisted.internet import ssl

            return ssl.optionsForClientTLS(hostname.decode("ascii"), trustRoot=root)

    return _Policy()
