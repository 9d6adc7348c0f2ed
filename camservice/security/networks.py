"""Client address rules for the API port: the CIDR allow list and the cap
on connections per address.

Both are decided when a TCP connection opens, before TLS or HTTP see a
byte, so a refused client costs one accept and one close.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

__all__ = ["AddressGate", "NetworkAllowList", "client_ip"]

_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def client_ip(addr) -> Optional[str]:
    """The IP text of a Twisted address (``IPv4Address``/``IPv6Address``),
    or ``None`` for anything else (a UNIX socket)."""
    host = getattr(addr, "host", None)
    return host if isinstance(host, str) else None


class NetworkAllowList:
    """Networks whose addresses may connect; empty allows everyone.

    IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``) are checked as the
    IPv4 address they carry.

    :param networks: CIDR texts (``10.0.0.0/8``) or single addresses.
    :raises ValueError: for a text that is neither.
    """

    __slots__ = ("_networks",)

    def __init__(self, networks: Iterable[str] = ()):
        self._networks: tuple[_Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    @property
    def restricted(self) -> bool:
        return bool(self._networks)

    def allows(self, host: Optional[str]) -> bool:
        """Whether ``host`` (an IP address text) may connect."""
        if not self._networks:
            return True
        if host is None:
            return False
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)


class AddressGate:
    """Admits new connections by address and counts the open ones.

    :param allow: the allow list.
    :param per_address: most connections one address may hold open.
    """

    __slots__ = ("allow", "per_address", "_open")

    #: what :meth:`admit` answers
    ADMITTED, NOT_ALLOWED, TOO_MANY = "admitted", "address not allowed", "too many connections from this address"

    def __init__(self, allow: NetworkAllowList, per_address: int):
        self.allow = allow
        self.per_address = per_address
        self._open: dict[str, int] = {}

    def admit(self, host: Optional[str]) -> str:
        """Decide on a new connection from ``host``; an admitted one is
        counted until :meth:`release`.

        :returns: :attr:`ADMITTED`, :attr:`NOT_ALLOWED` or :attr:`TOO_MANY`.
        """
        if not self.allow.allows(host):
            return self.NOT_ALLOWED
        key = host or ""
        count = self._open.get(key, 0)
        if count >= self.per_address:
            return self.TOO_MANY
        self._open[key] = count + 1
        return self.ADMITTED

    def release(self, host: Optional[str]) -> None:
        """A connection admitted for ``host`` has closed."""
        key = host or ""
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def open_from(self, host: Optional[str]) -> int:
        """Connections open now from ``host``."""
        return self._open.get(host or "", 0)
