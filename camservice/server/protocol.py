"""The WebSocket protocol: a thin shell around the dispatcher.

It turns frames into :meth:`Dispatcher.handle` calls and replies back into
frames; JSON-RPC itself lives in :mod:`camservice.rpc`.
"""
from __future__ import annotations

from typing import Optional

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import defer
from twisted.logger import Logger

from camservice.codec import dumps
from camservice.config.model import ServerConfig
from camservice.memory import MemoryTrimmer
from camservice.metrics import Metrics
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.errors import InvalidRequest
from camservice.rpc.notifier import Notifier
from camservice.rpc.ratelimit import TokenBucket
from camservice.rpc.session import Session

__all__ = ["CLOSE_GOING_AWAY", "RpcProtocol", "RpcWebSocketFactory"]

#: close code sent to every client when the service stops
CLOSE_GOING_AWAY = 1001
#: connections at once after which memory is trimmed once all have left
TRIM_AFTER_PEAK = 100

_BINARY_REPLY = dumps(
    {
        "jsonrpc": "2.0",
        "id": None,
        "error": InvalidRequest(reason="binary frames are not accepted", hint="send JSON-RPC as text frames").to_json(),
    }
)


class RpcProtocol(WebSocketServerProtocol):
    """One client connection."""

    # Not ``log``: that would replace Autobahn's own logger, whose many
    # per-frame debug calls then cost a full log event each.
    _log = Logger()
    session: Optional[Session] = None

    def onConnect(self, request):
        self._peer_text = request.peer
        return None

    def onOpen(self) -> None:
        factory: RpcWebSocketFactory = self.factory
        self.session = Session(
            factory.clock,
            self._send_notification,
            peer=getattr(self, "_peer_text", ""),
            rate_limiter=factory.new_rate_limiter(),
        )
        factory.opened(self)
        self._log.info(
            "client connected from {peer}", peer=self.session.peer, conn_id=self.session.conn_id
        )

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.session is None:
            return
        if isBinary:
            self.sendMessage(_BINARY_REPLY)
            return
        reply = self.factory.dispatcher.handle(self.session, payload)
        if reply is None:
            return
        if isinstance(reply, defer.Deferred):
            reply.addCallback(self._send_reply)
            return
        self.sendMessage(reply)

    def _send_reply(self, reply: Optional[bytes]) -> None:
        if reply is not None and self.state == WebSocketServerProtocol.STATE_OPEN:
            self.sendMessage(reply)

    def _send_notification(self, payload: bytes) -> None:
        if self.state == WebSocketServerProtocol.STATE_OPEN:
            self.sendMessage(payload)

    def onClose(self, wasClean: bool, code: Optional[int], reason: Optional[str]) -> None:
        if self.session is None:
            return
        self.factory.closed(self)
        self._log.info(
            "client disconnected (code {code}, clean {clean})",
            code=code,
            clean=wasClean,
            conn_id=self.session.conn_id,
        )

    def going_away(self) -> None:
        """Start the closing handshake because the server is stopping."""
        if self.state == WebSocketServerProtocol.STATE_OPEN:
            self.sendCloseFrame(code=CLOSE_GOING_AWAY, reasonUtf8=b"server shutting down")


class RpcWebSocketFactory(WebSocketServerFactory):
    """Builds :class:`RpcProtocol` and keeps the open connections.

    :param url: the WebSocket URL the server is reached at.
    :param config: the ``server`` section (limits).
    :param dispatcher: answers requests.
    :param notifier: delivers notifications to sessions.
    :param metrics: connection gauges.
    :param reactor: the reactor (also the clock).
    """

    protocol = RpcProtocol

    def __init__(
        self,
        url: str,
        config: ServerConfig,
        dispatcher: Dispatcher,
        notifier: Notifier,
        metrics: Metrics,
        reactor,
    ):
        super().__init__(url, reactor=reactor)
        self.noisy = False
        self.clock = reactor
        self.dispatcher = dispatcher
        self.notifier = notifier
        self.metrics = metrics
        self.open_protocols: set[RpcProtocol] = set()
        self._all_closed: list[defer.Deferred] = []
        self._peak = 0
        self.trimmer = MemoryTrimmer(reactor)
        self.apply_config(config)

    def apply_config(self, config: ServerConfig) -> None:
        """Set limits from ``config``; they apply to new connections."""
        self.config = config
        self.setProtocolOptions(
            maxFramePayloadSize=config.max_frame_size,
            maxMessagePayloadSize=config.max_message_size,
            autoPingInterval=config.auto_ping_interval,
            autoPingTimeout=config.auto_ping_timeout,
            openHandshakeTimeout=config.open_handshake_timeout,
            closeHandshakeTimeout=max(1, config.shutdown_timeout),
            allowedOrigins=list(config.allowed_origins),
            maxConnections=config.max_connections,
            # Send a close frame naming the reason (1009 for oversize,
            # 1007 for bad UTF-8) instead of just dropping the TCP link.
            failByDrop=False,
        )

    def new_rate_limiter(self) -> Optional[TokenBucket]:
        limit = self.config.rate_limit
        if not limit.requests_per_second:
            return None
        return TokenBucket(limit.requests_per_second, limit.burst, self.clock)

    def opened(self, proto: RpcProtocol) -> None:
        self.open_protocols.add(proto)
        self._peak = max(self._peak, len(self.open_protocols))
        self.trimmer.busy()
        self.notifier.attach(proto.session)
        self.metrics.connections.set(len(self.open_protocols))
        self.metrics.connections_total.inc()

    def closed(self, proto: RpcProtocol) -> None:
        self.open_protocols.discard(proto)
        self.notifier.detach(proto.session)
        self.metrics.connections.set(len(self.open_protocols))
        if not self.open_protocols:
            if self._peak >= TRIM_AFTER_PEAK:
                # hundreds of clients came and went: give their memory back
                self._peak = 0
                self.trimmer.quiet()
            waiters, self._all_closed = self._all_closed, []
            for d in waiters:
                d.callback(None)

    def close_all(self, timeout: float) -> defer.Deferred:
        """Send every client a close frame and wait for them to go.

        :param timeout: seconds to wait before dropping the rest.
        :returns: a Deferred firing once no connection is left; never fails.
        """
        if not self.open_protocols:
            return defer.succeed(None)
        for proto in list(self.open_protocols):
            proto.going_away()
        d = defer.Deferred()
        self._all_closed.append(d)

        def force(failure):
            failure.trap(defer.TimeoutError, defer.CancelledError)
            if d in self._all_closed:
                self._all_closed.remove(d)
            for proto in list(self.open_protocols):
                if proto.transport is not None:
                    proto.transport.abortConnection()
                self.closed(proto)

        return d.addTimeout(timeout, self.clock).addErrback(force)
