"""Libraries kept out of the process while the features that need them are off.

Twisted imports its TLS support (pyOpenSSL, twisted.internet.ssl,
twisted.protocols.tls) with the reactor, and twisted.web.client and the
endpoints do again, whenever pyOpenSSL is importable: 3 MB of an idle
service that never speaks TLS on PyPI's releases, 6 MB on Debian 12's
(tests/bench/modules.py). Each of those imports is optional in Twisted
(``try: ... except ImportError``), so the service keeps them out the
documented Python way: a name mapped to ``None`` in :data:`sys.modules`
makes ``import name`` raise ``ModuleNotFoundError`` (see the import
system's reference, "The module cache"). cryptography itself is not kept
out: Autobahn's WAMP layer, which ``autobahn.twisted`` always imports,
needs it.

``twistd camservice`` decides once, from the loaded configuration and before
it imports the reactor (:func:`camservice.tap.makeService`): with
``server.tls`` off and the manhole off, nothing in the process needs these
libraries (the MediaMTX Control API and the stream auth callback are plain
HTTP on loopback; camservice-admin is a process of its own). Turning TLS on
needs a restart (the ``api`` service refuses it on reload), and the
restarted process imports them as before. :meth:`ModuleBlock.release`
undoes the block.
"""
from __future__ import annotations

import sys
from typing import Iterable, MutableMapping

__all__ = ["TLS_MODULES", "ModuleBlock", "is_blocked", "modules_to_keep_out"]

#: What only TLS on the API port needs: pyOpenSSL and service_identity.
TLS_MODULES = ("OpenSSL", "service_identity")


def modules_to_keep_out(config) -> tuple[str, ...]:
    """The top-level modules a service with ``config`` never needs.

    The TLS libraries when ``server.tls`` is off and the manhole (SSH) is
    off; nothing otherwise.
    """
    if config.server.tls.enabled or config.manhole.enabled:
        return ()
    return TLS_MODULES


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
