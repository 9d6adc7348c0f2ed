"""Opening a listening port at start, or failing with one clear line."""
from __future__ import annotations

from typing import Optional

from twisted.internet.error import CannotListenError

from camservice.errors import StartupError

__all__ = ["listen_tcp"]


def listen_tcp(reactor, port: int, factory, interface: str, setting: Optional[str] = None):
    """``reactor.listenTCP`` that turns a port taken (or not allowed) into
    a :class:`StartupError` naming the address and, if given, the config
    key that chose it.

    :returns: the listening port (``IListeningPort``).
    :raises StartupError: the port cannot be opened.
    """
    try:
        return reactor.listenTCP(port, factory, interface=interface)
    except CannotListenError as e:
        named = f" ({setting})" if setting else ""
        raise StartupError(f"cannot listen on {interface}:{port}{named}: {e.socketError}") from None
