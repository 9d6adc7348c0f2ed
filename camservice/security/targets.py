"""Which hosts and ports camservice may be made to connect to.

An operator's ``add_external_stream`` makes camservice (ffprobe, then
MediaMTX) open a connection: without a rule that is a way to probe the
machine from the inside (MediaMTX's Control API, other local services)
and to scan ports. So a stream URL whose host is, or resolves to, a
loopback, link-local, unspecified or multicast address, or that names
one of camservice's own ports on this machine, is refused unless
``external_streams.allowed_targets`` names it.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

from twisted.internet import defer, threads

from camservice.security.errors import TargetRefused
from camservice.security.urls import StreamURL

__all__ = ["AllowedTarget", "Resolver", "TargetPolicy", "own_ports", "parse_allowed_target", "resolver"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_HINT = "if this is intended, add it to external_streams.allowed_targets in the configuration"


@dataclass(frozen=True)
class AllowedTarget:
    """One ``allowed_targets`` entry: a host name, an address or a CIDR
    network, with an optional port (``None``: any port except camservice's
    own, which must be named with their port)."""

    name: Optional[str]
    network: Optional[ipaddress.IPv4Network | ipaddress.IPv6Network]
    port: Optional[int]

    def matches(self, host: str, address: Optional[_Address], port: int, own_port: bool) -> bool:
        if self.port is None and own_port:
            return False
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            return self.name == host
        return address is not None and address in self.network


def parse_allowed_target(entry: str) -> AllowedTarget:
    """Read ``host``, ``host:port``, ``address``, ``[v6]:port`` or a CIDR
    network (``10.0.0.0/8``).

    :raises ValueError: with the reason.
    """
    text = entry.strip().lower()
    port = None
    if text.startswith("["):
        inner, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError("an IPv6 address with a port is written [address]:port")
        text, port = inner, (_port(after[1:]) if after else None)
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        port = _port(port_text)
    if "/" in text:
        try:
            return AllowedTarget(None, ipaddress.ip_network(text, strict=False), port)
        except ValueError:
            raise ValueError("is not a valid CIDR network")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if not text or any(c in text for c in " /@?#") or not all(p for p in text.rstrip(".").split(".")):
            raise ValueError("is not a host name, an address or a CIDR network")
        return AllowedTarget(text.rstrip("."), None, port)
    return AllowedTarget(None, ipaddress.ip_network(address), port)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError("has a port that is not from 1 to 65535")
    return int(text)


def _unmapped(address: _Address) -> _Address:
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _internal(address: _Address) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or (address.version == 4 and address in _THIS_NETWORK)
    )


def _is_local(address: _Address) -> bool:
    """Whether ``address`` belongs to this machine (it can be bound)."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((str(address), 0))
        except OSError:
            return False
    return True


class Resolver:
    """``resolve(host)``: the addresses of ``host``, looked up in a thread
    (``getaddrinfo`` blocks) so the reactor never waits on DNS.

    The Deferred fails with ``OSError`` when the name does not resolve and
    with ``defer.TimeoutError`` after :attr:`timeout` seconds, which a
    reload may change (it bounds the lookups that start afterwards).
    """

    def __init__(self, reactor, timeout: float):
        self._reactor = reactor
        self.timeout = timeout

    @staticmethod
    def _lookup(host: str) -> list[str]:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})

    def __call__(self, host: str) -> defer.Deferred:
        d = threads.deferToThreadPool(self._reactor, self._reactor.getThreadPool(), self._lookup, host)
        return d.addTimeout(self.timeout, self._reactor)


def resolver(reactor, timeout: float) -> Resolver:
    """A :class:`Resolver` (``resolve(host) -> Deferred[list[str]]``)."""
    return Resolver(reactor, timeout)


def own_ports(config) -> tuple[int, ...]:
    """The ports camservice listens on (API, MediaMTX's auth callback,
    MediaMTX, the manhole): stream URLs must not point at them on this
    machine."""
    m = config.mediamtx
    ports = (config.server.port, config.streams.auth_port, m.api_port, m.rtsp_port, m.hls_port, m.webrtc_port,
             m.webrtc_udp_port)
    return ports + ((config.manhole.port,) if config.manhole.enabled else ())


class TargetPolicy:
    """Decides whether a stream URL may be connected to.

    :param allowed: ``allowed_targets`` entries (see
        :func:`parse_allowed_target`).
    :param own_ports: camservice's own listening ports (API, MediaMTX).
    :param resolve: ``resolve(host) -> Deferred[list[str]]`` (see
        :func:`resolver`).
    :param is_local: whether an address is this machine's (default: can
        it be bound).
    """

    def __init__(
        self,
        allowed: Sequence[str],
        own_ports: Iterable[int],
        resolve: Callable[[str], defer.Deferred],
        is_local: Callable[[_Address], bool] = _is_local,
    ):
        self._allowed = tuple(parse_allowed_target(entry) for entry in allowed)
        self._own_ports = frozenset(own_ports)
        self._resolve = resolve
        self._is_local = is_local

    def set_allowed(self, allowed: Sequence[str]) -> None:
        """Check against ``allowed`` from now on (a reload)."""
        self._allowed = tuple(parse_allowed_target(entry) for entry in allowed)

    def set_own_ports(self, ports: Iterable[int]) -> None:
        """camservice's own ports from now on (a reload moved one)."""
        self._own_ports = frozenset(ports)

    def set_resolve_timeout(self, timeout: float) -> None:
        """Bound later lookups by ``timeout`` seconds (when the resolver is
        a :class:`Resolver`; one passed in by a test keeps its own)."""
        if isinstance(self._resolve, Resolver):
            self._resolve.timeout = timeout

    def check_literal(self, target: StreamURL) -> bool:
        """Check a URL whose host is an address, without any lookup.

        :returns: ``False`` if the host is a name (use :meth:`check`).
        :raises TargetRefused: the address or port is not allowed.
        """
        if target.address is None:
            return False
        self._check_address(target, target.address)
        return True

    async def check(self, target: StreamURL) -> None:
        """Check a URL, resolving its host name (off the reactor thread).

        :raises TargetRefused: the host does not resolve, or one of its
            addresses or the port is not allowed.
        """
        if self.check_literal(target):
            return
        if any(a.name == target.host and a.port in (None, target.port) for a in self._allowed) and not (
            target.port in self._own_ports
        ):
            return  # named explicitly: no lookup needed
        try:
            addresses = await self._resolve(target.host)
        except defer.TimeoutError:
            raise TargetRefused("has a host name that could not be resolved in time", "check the host name or use an address")
        except OSError:
            raise TargetRefused("has a host name that could not be resolved", "check the host name or use an address")
        if not addresses:
            raise TargetRefused("has a host name that could not be resolved", "check the host name or use an address")
        for text in addresses:
            self._check_address(target, ipaddress.ip_address(text.split("%", 1)[0]))

    def _check_address(self, target: StreamURL, address: _Address) -> None:
        address = _unmapped(address)
        internal = _internal(address)
        own_port = target.port in self._own_ports and (internal or self._is_local(address))
        if not internal and not own_port:
            return
        if any(a.matches(target.host, address, target.port, own_port) for a in self._allowed):
            return
        if own_port:
            raise TargetRefused("must not point at one of camservice's own ports", _HINT + " with its port")
        raise TargetRefused(
            "must not point at this machine or a loopback, link-local, unspecified or multicast address", _HINT
        )
