"""TLS on the API port: the server's certificate, client certificates
(mTLS) and what a client certificate says about its holder.

The OpenSSL context lives behind one :class:`ServerTls` object that the
listening port asks for every new connection, so a new certificate can be
put in place (:meth:`ServerTls.replace`) without closing the port;
connections already open keep the context they started with.

This module imports pyOpenSSL and service_identity; the API server imports
it only when TLS is configured.
"""
from __future__ import annotations

import calendar
import re
import time
from pathlib import Path
from typing import Optional

from cryptography import x509 as _x509
from OpenSSL import SSL, crypto
from service_identity.cryptography import verify_certificate_hostname
from service_identity.exceptions import CertificateError, VerificationError
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.config.errors import ConfigError, ConfigProblem
from camservice.config.model import ClientIdentity, TlsConfig

__all__ = ["CertificateIdentities", "ServerTls", "TlsListeningFactory", "load_server_tls"]

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.S)
_PEM_KEY = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----")

log = Logger(namespace="camservice.security.tls")


def _problem(key: str, rule: str, path: Optional[Path]) -> ConfigError:
    return ConfigError([ConfigProblem(f"server.tls.{key}", rule, str(path) if path is not None else "")])


def _read(key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise _problem(key, f"cannot be read: {e.strerror}", path)


def _certificates(key: str, path: Path) -> list:
    """Every PEM certificate in the file, as pyOpenSSL ``X509``, in order."""
    blocks = _PEM_CERT.findall(_read(key, path))
    if not blocks:
        raise _problem(key, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
    certs = []
    for index, block in enumerate(blocks):
        try:
            certs.append(crypto.load_certificate(crypto.FILETYPE_PEM, block))
        except crypto.Error:
            raise _problem(key, f"certificate {index + 1} in the file is not a valid PEM certificate", path)
    return certs


def _private_key(key: str, path: Path):
    data = _read(key, path)
    match = _PEM_KEY.search(data)
    if match is None:
        raise _problem(key, "holds no PEM private key (-----BEGIN PRIVATE KEY-----)", path)
    if match.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in data:
        raise _problem(key, "holds an encrypted private key; give an unencrypted one (readable by the service only)", path)
    try:
        return crypto.load_privatekey(crypto.FILETYPE_PEM, data)
    except crypto.Error:
        raise _problem(key, "holds a private key that cannot be loaded", path)


def _not_after(x509) -> Optional[float]:
    """The certificate's ``notAfter`` as POSIX seconds."""
    raw = x509.get_notAfter()
    if raw is None:
        return None
    return float(calendar.timegm(time.strptime(raw.decode("ascii"), "%Y%m%d%H%M%SZ")))


def _openssl_error(e: Exception) -> str:
    """OpenSSL's reason for ``e`` (``SSL.Error`` carries a list of tuples)."""
    parts = []
    for item in getattr(e, "args", ()) and e.args[0] or ():
        if isinstance(item, tuple) and item:
            parts.append(str(item[-1]))
    return "; ".join(parts) or str(e)


@implementer(IOpenSSLServerConnectionCreator)
class ServerTls:
    """Hands each new connection an ``OpenSSL.SSL.Connection`` on the
    current context.

    :param context: an ``OpenSSL.SSL.Context``.
    :param identities: maps client certificates to principals.
    :param not_after: POSIX time the server certificate expires.
    """

    def __init__(self, context, identities: "CertificateIdentities", not_after: Optional[float]):
        self._context = context
        self.identities = identities
        self.not_after = not_after

    def replace(self, other: "ServerTls") -> None:
        """Use ``other``'s context and identities for connections from now on."""
        self._context = other._context
        self.identities = other.identities
        self.not_after = other.not_after

    def serverConnectionForTLS(self, tlsProtocol):
        return SSL.Connection(self._context, None)


class CertificateIdentities:
    """``server.tls.client_identities``: a verified client certificate's
    DNS names (subjectAltName, matched by ``service_identity``) to a role.

    :param identities: in order; the first name the certificate holds wins.
    """

    def __init__(self, identities: tuple[ClientIdentity, ...]):
        self._identities = tuple(
            (i.name, Role.parse(i.role), frozenset(i.cameras) if i.cameras is not None else None) for i in identities
        )

    def __bool__(self) -> bool:
        return bool(self._identities)

    def principal_for(self, x509) -> Optional[Principal]:
        """The caller a verified client certificate stands for, or ``None``
        when no configured name matches it (the connection then has to
        ``authenticate`` like any other).

        :param x509: the peer's ``OpenSSL.crypto.X509``.
        """
        if x509 is None or not self._identities:
            return None
        cert = x509.to_cryptography()
        try:
            cert.extensions.get_extension_for_class(_x509.SubjectAlternativeName)
        except _x509.ExtensionNotFound:
            # Names come from subjectAltName only (older service_identity
            # releases would fall back to the common name).
            return None
        for name, role, cameras in self._identities:
            try:
                verify_certificate_hostname(cert, name)
            except (VerificationError, CertificateError):
                continue
            fingerprint = x509.digest("sha256").decode("ascii").replace(":", "").lower()
            return Principal(
                user_id="cert:" + name,
                role=role,
                expires_at=_not_after(x509),
                cameras=cameras,
                method="certificate",
                credential_id="sha256:" + fingerprint[:32],
            )
        return None


def load_server_tls(config: TlsConfig, clock=None) -> ServerTls:
    """Load the certificate, key and client CAs and build the context.

    :param config: ``server.tls`` (its ``certificate`` must be set).
    :param clock: ``IReactorTime``, to warn about an expired certificate.
    :raises ConfigError: one problem naming the key and what is wrong
        (unreadable file, no PEM, key not matching the certificate...).
    """
    chain = _certificates("certificate", config.certificate)
    key = _private_key(
        "private_key" if config.private_key is not None else "certificate",
        config.private_key or config.certificate,
    )
    verify = config.client_certificates != "none"
    ca_certs = _certificates("client_ca", config.client_ca) if verify else []
    minimum = ssl.TLSVersion.TLSv1_3 if config.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    try:
        options = ssl.CertificateOptions(
            privateKey=key,
            certificate=chain[0],
            extraCertChain=chain[1:],
            raiseMinimumTo=minimum,
            verify=verify,
            caCerts=ca_certs or None,
            requireCertificate=config.client_certificates == "required",
            acceptableProtocols=[b"http/1.1"],
        )
        context = options.getContext()
    except SSL.Error as e:
        where = "private_key" if config.private_key is not None else "certificate"
        raise _problem(where, f"does not fit the certificate ({_openssl_error(e)})", config.private_key or config.certificate)
    except (ValueError, TypeError) as e:
        raise _problem("certificate", f"cannot be used: {e}", config.certificate)
    not_after = _not_after(chain[0])
    if clock is not None and not_after is not None and not_after <= clock.seconds():
        log.warn(
            "the API's TLS certificate {path} expired at {not_after}; clients will refuse it",
            path=str(config.certificate),
            not_after=not_after,
        )
    return ServerTls(context, CertificateIdentities(config.client_identities), not_after)


class TlsListeningFactory(TLSMemoryBIOFactory):
    """TLS around the site; a connection the site refuses (its
    ``buildProtocol`` returns ``None``) is closed before any TLS work."""

    def buildProtocol(self, addr):
        inner = self.wrappedFactory.buildProtocol(addr)
        if inner is None:
            return None
        return self.protocol(self, inner)
