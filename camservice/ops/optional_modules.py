"""Libraries kept out of the process while the features that need them are off.

Twisted imports its TLS support (pyOpenSSL, twisted.internet.ssl,
twisted.protocols.tls) with the reactor, and twisted.web.client and the
endpoints do again, whenever pyOpenSSL is importable; PyJWT imports
cryptography (for the RSA and EC algorithms) whenever it is importable,
though the service signs its tokens with HS256 (:mod:`camservice.auth.tokens`),
which needs only the standard library's ``hmac``. Together that is 3 MB
(TLS) and 8 MB (cryptography) of an idle service that never speaks TLS on
PyPI's releases (tests/bench/modules.py). Each of those imports is optional
in Twisted and PyJWT (``try: ... except ImportError``), so the service keeps
them out the documented Python way: a name mapped to ``None`` in
:data:`sys.modules` makes ``import name`` raise ``ModuleNotFoundError``
(see the import system's reference, "The module cache").

cbor2 is kept out always: only Autobahn's WAMP messages use it, and
Autobahn imports it as optional; the WebSocket server does not speak WAMP
(:mod:`camservice.server.ws_adapter` keeps ``autobahn.twisted`` and the
WAMP layer for Twisted out too). chardet is kept out wherever
charset_normalizer can take its place in requests (see
:data:`UNUSED_MODULES`).

``twistd camservice`` decides once, from the loaded configuration and before
it imports the reactor (:func:`camservice.tap.makeService`): with
``server.tls`` off and the manhole off, nothing in the process needs the
TLS libraries or cryptography (the MediaMTX Control API and the stream auth
callback are plain HTTP on loopback; camservice-admin is a process of its
own). Turning TLS on needs a restart (the ``api`` service refuses it on
reload), and the restarted process imports them as before.
:meth:`ModuleBlock.release` undoes the block.
"""
from __future__ import annotations

import importlib.util
import sys
import warnings
from typing import Iterable, MutableMapping

__all__ = ["TLS_MODULES", "UNUSED_MODULES", "ModuleBlock", "is_blocked", "modules_to_keep_out"]

#: What only TLS on the API port (and the manhole's SSH) needs: pyOpenSSL,
#: service_identity, cryptography (and bcrypt, which cryptography's SSH
#: keys import).
TLS_MODULES = ("OpenSSL", "service_identity", "cryptography", "bcrypt")


def _unused_modules(find_spec=importlib.util.find_spec) -> tuple[str, ...]:
    """cbor2, and chardet when charset_normalizer can stand in for it."""
    if find_spec("charset_normalizer") is None:
        return ("cbor2",)
    return ("cbor2", "chardet")


#: What nothing in the service uses, whatever the configuration: the CBOR
#: codec of Autobahn's WAMP messages; and chardet, the character-set
#: guesser requests imports (treq 22.2, Debian 12's, imports requests for
#: its cookie jar) in preference to charset_normalizer when both are
#: installed, as on Debian 12: 2.5 MB of language tables for
#: ``Response.apparent_encoding``, which treq never asks for. requests
#: refuses to import with neither, so chardet is kept out only where
#: charset_normalizer can be imported instead.
UNUSED_MODULES = _unused_modules()


def modules_to_keep_out(config) -> tuple[str, ...]:
    """The top-level modules a service with ``config`` never needs.

    :data:`UNUSED_MODULES`, and the TLS libraries (:data:`TLS_MODULES`)
    when ``server.tls`` is off and the manhole (SSH) is off.
    """
    if config.server.tls.enabled or config.manhole.enabled:
        return UNUSED_MODULES
    return UNUSED_MODULES + TLS_MODULES


#: Warnings a library gives because a module is kept out, by that module,
#: as ``warnings.filterwarnings`` arguments. requests 2.28 (Debian 12's)
#: accepts charset_normalizer only below 3 when chardet is missing and says
#: so at import; Debian 12 ships 3.0.1, which requests 2.30 accepts, and
#: treq never asks it for anything: the service's log would otherwise start
#: with a warning about a library nothing uses.
WARNINGS_WHEN_KEPT_OUT = {
    "chardet": {
        "message": r"urllib3 \(.*\) or chardet \(None\)/charset_normalizer \(.*\) doesn't match a supported version",
        "module": "requests",
    },
}


class ModuleBlock:
    """Makes ``import`` of some top-level modules (and their submodules) fail
    with ``ModuleNotFoundError``, so that libraries which import them only
    when available go without.

    Modules already imported are left alone (they are not listed in
    :attr:`blocked`): blocking cannot take away what is in use.

    :param names: top-level module names.
    :param modules: the module cache (tests pass a dict).
    """

    def __init__(self, names: Iterable[str], modules: MutableMapping = sys.modules):
        self._names = tuple(names)
        self._modules = modules
        self.blocked: tuple[str, ...] = ()

    def block(self) -> "ModuleBlock":
        blocked = []
        for name in self._names:
            if name not in self._modules:
                self._modules[name] = None
                blocked.append(name)
        self.blocked = tuple(blocked)
        for name in self.blocked:
            if name in WARNINGS_WHEN_KEPT_OUT:
                warnings.filterwarnings("ignore", **WARNINGS_WHEN_KEPT_OUT[name])
        return self

    def release(self) -> None:
        """Let the blocked modules be imported again."""
        for name in self.blocked:
            if name in self._modules and self._modules[name] is None:
                del self._modules[name]
        self.blocked = ()

    def __enter__(self) -> "ModuleBlock":
        return self.block()

    def __exit__(self, *exc) -> None:
        self.release()


def is_blocked(name: str, modules: MutableMapping = sys.modules) -> bool:
    """Whether ``import name`` is refused by a block."""
    return name in modules and modules[name] is None
