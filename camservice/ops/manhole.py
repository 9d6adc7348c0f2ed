"""The SSH manhole: a Python prompt inside the running service.

Off by default. When ``manhole.enabled`` is set, the ``manhole`` child
listens on a loopback address only (the schema allows no other, and
:class:`ManholeService` checks again), lets in only the public keys of
``manhole.authorized_keys_file`` (read at each login, so a key is added or
removed without a restart) and gives each session a fresh namespace with the
running service tree in it.

``twisted.conch`` and ``cryptography`` are imported only when the manhole
starts: a service without it does not pay for them in memory.
"""
from __future__ import annotations

import ipaddress
import os
import warnings
from typing import Callable, Optional

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.config.model import ManholeConfig
from camservice.errors import StartupError
from camservice.fileutil import create_exclusive, ensure_dir
from camservice.service import Component

__all__ = ["ManholeService", "keys_file_problem", "load_or_create_host_key"]

#: Printed when a session opens.
BANNER = (
    "camservice manhole: a Python prompt inside the running service; ^D ends it.\n"
    "Names: root, services(name), config, registry, monitor, external, controller, breaker,\n"
    "api, sessions(), status, bus, metrics, recent_errors, reactor.\n"
)


def _conch_missing(e: ImportError) -> StartupError:
    return StartupError(
        "manhole.enabled needs twisted.conch and its dependencies "
        f"(cryptography, bcrypt, appdirs; pip install 'camservice[manhole]'): {e}"
    )


def load_or_create_host_key(path):
    """The manhole's host key (a conch ``Key``), made once if missing: an
    Ed25519 key in OpenSSH format, mode 0600, folder 0700.

    :raises StartupError: the file cannot be read, created or parsed.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from twisted.conch.ssh import keys

    try:
        if not path.exists():
            ensure_dir(path.parent)
            private = ed25519.Ed25519PrivateKey.generate()
            data = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            )
            create_exclusive(path, data, 0o600)
        return keys.Key.fromString(path.read_bytes())
    except OSError as e:
        raise StartupError(f"manhole.host_key_file {path}: cannot read or create it: {e.strerror}") from None
    except keys.BadKeyError as e:
        raise StartupError(f"manhole.host_key_file {path}: not an SSH private key: {e}") from None


def keys_file_problem(path) -> Optional[str]:
    """Why ``path`` must not be trusted as an authorized_keys file, or
    ``None``. Like sshd's ``StrictModes``: it must exist, and neither
    group nor others may write it."""
    try:
        st = os.stat(path)
    except OSError as e:
        return f"cannot read it: {e.strerror}"
    if st.st_mode & 0o022:
        return f"it is writable by group or others (mode {oct(st.st_mode & 0o777)})"
    return None


class _AuthorizedKeysFile:
    """``IAuthorizedKeysDB`` over one OpenSSH authorized_keys file, for
    every user name, read at each login. Unparsable lines are skipped
    (conch's ``readAuthorizedKeyFile``); a missing file, or one that group
    or others may write, lets no one in."""

    log = Logger()

    def __init__(self, path):
        self.path = path

    def getAuthorizedKeys(self, username):
        from twisted.conch.checkers import readAuthorizedKeyFile

        problem = keys_file_problem(self.path)
        if problem is None:
            try:
                with open(self.path, "rb") as f:
                    return list(readAuthorizedKeyFile(f))
            except OSError as e:
                problem = f"cannot read it: {e.strerror}"
        self.log.error(
            "manhole: no key is let in: {path}: {problem}", path=str(self.path), problem=problem
        )
        return []


class _AuditedChecker:
    """conch's ``SSHPublicKeyChecker``, with every login and refusal an
    audit event (``what``: ``manhole_login``; refusals summarised like
    the API's)."""

    def __init__(self, inner, audit):
        self._inner = inner
        self._audit = audit
        self.credentialInterfaces = inner.credentialInterfaces

    def requestAvatarId(self, credentials):
        from twisted.conch.error import ValidPublicKey
        from twisted.cred.error import UnauthorizedLogin

        user = credentials.username.decode("utf-8", "replace")

        def accepted(avatar_id):
            if avatar_id is None:  # conch 22.4 returns None on a bad signature
                raise UnauthorizedLogin("bad signature")
            self._audit.record("manhole_login", "success", peer="loopback", who=user)
            return avatar_id

        def refused(failure):
            if not failure.check(ValidPublicKey):
                self._audit.record(
                    "manhole_login", "denied", peer="loopback", who=user, reason=failure.getErrorMessage()
                )
            return failure

        return self._inner.requestAvatarId(credentials).addCallbacks(accepted, refused)


class ManholeService(Component):
    """The ``manhole`` child.

    :param config: the ``manhole`` section (``enabled`` is the caller's
        business: this service listens when it runs).
    :param reactor: ``IReactorTCP``.
    :param namespace: ``namespace() -> dict``, the names a new session
        starts with.
    :param audit: where logins and refusals are recorded (an
        :class:`camservice.rpc.audit.Audit`).
    :ivar config: the section in force.
    """

    log = Logger()

    def __init__(self, config: ManholeConfig, reactor, namespace: Callable[[], dict], audit):
        super().__init__()
        self._check(config)
        self.config = config
        self._reactor = reactor
        self._namespace = namespace
        self._audit = audit
        self.port = None

    @staticmethod
    def _check(config: ManholeConfig) -> None:
        """Refuse any address beyond loopback (the schema does too)."""
        try:
            loopback = ipaddress.ip_address(config.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise StartupError(f"manhole.host must be a loopback address, not {config.host!r}")

    @property
    def listening(self) -> Optional[tuple[str, int]]:
        """(host, port) actually bound, while listening."""
        if self.port is None:
            return None
        address = self.port.getHost()
        return address.host, address.port

    def _factory(self):
        try:
            with warnings.catch_warnings():
                # conch.checkers imports spwd (deprecated in Python 3.11) for
                # shadow passwords, and conch 22.4's transport names
                # Blowfish and CAST5 (deprecated by cryptography): the
                # manhole uses neither
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    from cryptography.utils import CryptographyDeprecationWarning
                except ImportError:  # pragma: no cover - older cryptography
                    pass
                else:
                    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                from twisted.conch import manhole, manhole_ssh
                from twisted.conch.checkers import SSHPublicKeyChecker
                from twisted.conch.insults import insults
                from twisted.cred import portal
        except ImportError as e:
            raise _conch_missing(e) from None

        host_key = load_or_create_host_key(self.config.host_key_file)
        namespace = self._namespace
        banner = BANNER.replace("\n", "\r\n").encode("utf-8")

        class BannerManhole(manhole.ColoredManhole):
            def initializeScreen(self):
                self.terminal.reset()
                self.terminal.write(banner)
                self.terminal.write(self.ps[self.pn])
                self.setInsertMode()

        def session_protocol():
            return insults.ServerProtocol(BannerManhole, namespace())

        realm = manhole_ssh.TerminalRealm()
        realm.chainedProtocolFactory = session_protocol
        checker = _AuditedChecker(SSHPublicKeyChecker(_AuthorizedKeysFile(self.config.authorized_keys_file)), self._audit)
        factory = manhole_ssh.ConchFactory(portal.Portal(realm, [checker]))
        # instance attributes: ConchFactory's are dicts shared by the class
        factory.publicKeys = {host_key.sshType(): host_key.public()}
        factory.privateKeys = {host_key.sshType(): host_key}
        factory.noisy = False
        return factory

    #: What a reload takes while the manhole runs; turning it on or off
    #: needs a restart.
    reloadable_keys = ("manhole.host", "manhole.port", "manhole.authorized_keys_file", "manhole.host_key_file")

    def checkConfig(self, new) -> None:
        """Refuse a non-loopback host (the schema does too)."""
        self._check(new.manhole)

    def reconfigService(self, new) -> defer.Deferred:
        if new.manhole == self.config:
            return defer.succeed(None)
        return self.apply(new.manhole)

    @async_to_deferred
    async def apply(self, config: ManholeConfig) -> None:
        """Use ``config`` from now on: while running, listen again if the
        address, port or host key changed (sessions open stay open); the
        keys file is read at each login anyway. Returns a Deferred firing
        once done.

        :raises StartupError: a non-loopback host, or the new port cannot
            be bound (the old one is closed by then).
        """
        self._check(config)
        old, self.config = self.config, config
        if self.running and self.port is not None and (old.host, old.port, old.host_key_file) != (
            config.host, config.port, config.host_key_file
        ):
            port, self.port = self.port, None
            await defer.maybeDeferred(port.stopListening)
            self.start()

    def start(self) -> None:
        self._check(self.config)
        problem = keys_file_problem(self.config.authorized_keys_file)
        if problem is not None:
            self.log.warn(
                "manhole: nobody can log in until {path} is fixed: {problem}",
                path=str(self.config.authorized_keys_file), problem=problem,
            )
        factory = self._factory()
        try:
            self.port = self._reactor.listenTCP(self.config.port, factory, interface=self.config.host)
        except CannotListenError as e:
            raise StartupError(
                f"manhole cannot listen on {self.config.host}:{self.config.port}: {e.socketError}"
            ) from None
        host, port = self.listening
        self.log.info(
            "manhole listening on {host}:{port} (keys from {keys_file})",
            host=host, port=port, keys_file=str(self.config.authorized_keys_file),
        )

    def stop(self):
        if self.port is None:
            return None
        port, self.port = self.port, None
        return port.stopListening()
