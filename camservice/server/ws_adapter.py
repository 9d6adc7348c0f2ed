"""Autobahn's WebSocket protocol on Twisted, without ``autobahn.twisted``.

``autobahn.twisted`` imports, with its package, Autobahn's WAMP layer for
Twisted and with it cryptography (WAMP-cryptosign), which a WebSocket
server does not use: about 10 MB of an idle service (tests/bench/modules.py).
The adapter Autobahn has for Twisted is small; this is the part of it a
server needs, over the same framework-independent protocol
(:mod:`autobahn.websocket.protocol`), so frames, handshakes, limits,
timeouts and close codes are Autobahn's own, unchanged:

- :class:`WebSocketServerProtocol`: Twisted's ``connectionMade``,
  ``dataReceived`` and ``connectionLost`` into Autobahn's, Autobahn's
  ``_closeConnection`` and ``_on*`` callbacks back to the transport and the
  application's ``on*`` methods;
- :class:`WebSocketServerFactory`: builds them, with the reactor Autobahn's
  timers use;
- :class:`WebSocketResource`: the ``twisted.web`` resource that hands a
  request's connection over to the WebSocket protocol.

The peer is named as Autobahn names it (``tcp4:HOST:PORT``).
"""
from __future__ import annotations

import txaio

txaio.use_twisted()

from autobahn.websocket import protocol  # noqa: E402
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress  # noqa: E402
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone  # noqa: E402
from twisted.protocols.policies import ProtocolWrapper  # noqa: E402
from twisted.web.resource import IResource, NoResource  # noqa: E402
from twisted.web.server import NOT_DONE_YET  # noqa: E402
from zope.interface import implementer  # noqa: E402

__all__ = ["TIMER_CHUNK", "WebSocketResource", "WebSocketServerFactory", "WebSocketServerProtocol", "peer_name"]

#: Autobahn's timers (auto-pings, their timeouts, handshake timeouts) due
#: in the same 200 ms are run this many per reactor turn, the turns spread
#: over the 200 ms. Autobahn runs up to 1000 at once: an auto-ping costs
#: 40-130 us, so the pings of clients that connected together stalled
#: every other reply for 10 ms and more once per ``auto_ping_interval``.
TIMER_CHUNK = 10


def peer_name(address) -> str:
    """A transport's peer address as Autobahn writes it: ``tcp4:HOST:PORT``,
    ``tcp6:HOST:PORT``, ``unix:PATH`` (``unix`` if unnamed), else ``?:``
    and the address."""
    if isinstance(address, IPv4Address):
        return f"tcp4:{address.host}:{address.port}"
    if isinstance(address, IPv6Address):
        return f"tcp6:{address.host}:{address.port}"
    if isinstance(address, UNIXAddress):
        name = address.name
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        return f"unix:{name}" if name else "unix"
    return f"?:{address}"


class WebSocketServerProtocol(Protocol, protocol.WebSocketServerProtocol):
    """A WebSocket server connection on a Twisted transport (what
    ``autobahn.twisted.websocket.WebSocketServerProtocol`` is, for a server)."""

    log = txaio.make_logger()
    is_server = True
    peer = None

    def connectionMade(self) -> None:
        self.peer = peer_name(self.transport.getPeer())
        try:
            self.transport.setTcpNoDelay(self.tcpNoDelay)
        except (AttributeError, OSError):  # not TCP (e.g. a UNIX socket)
            pass
        self._connectionMade()

    def connectionLost(self, reason=connectionDone) -> None:
        self._connectionLost(reason)

    def dataReceived(self, data: bytes) -> None:
        self._dataReceived(data)

    def _closeConnection(self, abort: bool = False) -> None:
        if abort and hasattr(self.transport, "abortConnection"):
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def _onOpen(self) -> None:
        self.onOpen()

    def _onMessageBegin(self, isBinary):
        self.onMessageBegin(isBinary)

    def _onMessageFrameBegin(self, length):
        self.onMessageFrameBegin(length)

    def _onMessageFrameData(self, payload):
        self.onMessageFrameData(payload)

    def _onMessageFrameEnd(self):
        self.onMessageFrameEnd()

    def _onMessageFrame(self, payload):
        self.onMessageFrame(payload)

    def _onMessageEnd(self):
        self.onMessageEnd()

    def _onMessage(self, payload, isBinary):
        self.onMessage(payload, isBinary)

    def _onPing(self, payload):
        self.onPing(payload)

    def _onPong(self, payload):
        self.onPong(payload)

    def _onClose(self, wasClean, code, reason):
        self.onClose(wasClean, code, reason)

    def registerProducer(self, producer, streaming) -> None:
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.transport.unregisterProducer()


class WebSocketServerFactory(protocol.WebSocketServerFactory, ServerFactory):
    """Builds :class:`WebSocketServerProtocol` connections.

    Takes Autobahn's factory arguments and ``reactor`` (default: the global
    one). Autobahn's timers run at most :data:`TIMER_CHUNK` per reactor turn.
    """

    log = txaio.make_logger()
    protocol = WebSocketServerProtocol

    def __init__(self, *args, reactor=None, **kwargs):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        protocol.WebSocketServerFactory.__init__(self, *args, **kwargs)
        self._batched_timer = txaio.make_batched_timer(bucket_seconds=0.2, chunk_size=TIMER_CHUNK)


@implementer(IResource)
class WebSocketResource:
    """A ``twisted.web`` resource that turns its request's connection into
    a WebSocket connection of ``factory`` (which then reads the opening
    handshake again, from the request Twisted has parsed).

    :param factory: a :class:`WebSocketServerFactory`.
    """

    isLeaf = True

    def __init__(self, factory: WebSocketServerFactory):
        self._factory = factory

    def getChildWithDefault(self, name, request):
        return NoResource("No such child resource.")

    def putChild(self, path, child) -> None:
        """It has no children."""

    def render(self, request):
        if request.channel.transport is None:  # HTTP/2: no connection to take over
            request.setResponseCode(426, b"Upgrade required")
            request.setHeader(b"Upgrade", b"WebSocket")
            return b"WebSocket needs HTTP/1.1\n"
        proto = self._factory.buildProtocol(request.transport.getPeer())
        if not proto:
            request.setResponseCode(500)
            return b""
        transport, request.channel.transport = request.channel.transport, None
        if isinstance(transport, ProtocolWrapper):  # TLS wraps the protocol
            transport.wrappedProtocol = proto
        elif isinstance(transport.protocol, ProtocolWrapper):
            transport.protocol.wrappedProtocol = proto
        else:
            transport.protocol = proto
        proto.makeConnection(transport)
        # the HTTP channel paused the transport while it served the request
        if hasattr(transport, "_networkProducer"):
            transport._networkProducer.resumeProducing()
        elif hasattr(transport, "resumeProducing"):
            transport.resumeProducing()
        data = [request.method, b" ", request.uri, b" HTTP/1.1\r\n"]
        for name, values in request.requestHeaders.getAllRawHeaders():
            data += [name, b": ", b",".join(values), b"\r\n"]
        data.append(b"\r\n")
        data.append(request.content.read())
        # The HTTP channel never hears of this connection again: take the
        # request out of its queue, so that the two, which refer to each
        # other, are freed by reference counting when this returns rather
        # than left to the cycle collector.
        channel = request.channel
        if request in channel.requests:
            channel.requests.remove(request)
        proto.dataReceived(b"".join(data))
        return NOT_DONE_YET
