"""The WebSocket protocol: a thin shell around the dispatcher.

It turns frames into :meth:`Dispatcher.handle` calls and replies back into
frames; JSON-RPC itself lives in :mod:`camservice.rpc`. Around that it keeps
each connection's cost bounded: it is the transport's producer, so when
64 KiB of output wait for a client it stops reading from that client until
the client reads, and past ``server.max_send_buffer`` bytes it closes the
connection (1008); it closes a connection that has not authenticated
within ``server.auth_timeout`` (4001) and one that keeps ignoring the rate
limit (4005).

Most messages are one small masked text frame that arrives whole in one
read, and most replies one small text frame to a socket with nothing
queued. Those take a short path (:meth:`RpcProtocol.dataReceived`,
:meth:`RpcProtocol._send`) with the same checks as Autobahn's general
one (frame and message size limits, UTF-8 validity closing with 1007,
masking): anything else (fragments, control frames, partial frames,
compression, frame logging, TLS) goes through Autobahn unchanged.
"""
from __future__ import annotations

from typing import Optional

from camservice.server.ws_adapter import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import defer, tcp
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from camservice.codec import dumps
from camservice.config.model import ServerConfig
from camservice.memory import MemoryTrimmer
from camservice.metrics import Metrics
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.errors import InvalidRequest
from camservice.rpc.notifier import Notifier
from camservice.rpc.ratelimit import TokenBucket
from camservice.rpc.session import Session
from camservice.rpc.sessions import (
    CLOSE_AUTH_TIMEOUT,
    CLOSE_RATE_LIMITED,
    CLOSE_SEND_BUFFER_FULL,
    SessionTable,
    session_ended_notification,
)

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


_audit = Logger(namespace="camservice.audit")

_OPEN = WebSocketServerProtocol.STATE_OPEN
_SEND_GROUND = WebSocketServerProtocol.SEND_STATE_GROUND
#: FIN set, no RSV bits, opcode 1 (text): a whole text message in one frame
_FIN_TEXT = 0x81


def unmask(data: bytes, start: int, end: int) -> bytes:
    """The payload ``data[start:end]`` unmasked with the 4 bytes before it.

    One XOR of two big integers: for the small frames of requests it costs
    less than setting up a masker object per frame.
    """
    n = end - start
    if n == 0:
        return b""
    key = data[start - 4 : start] * ((n >> 2) + 1)
    return (int.from_bytes(data[start:end], "little") ^ int.from_bytes(key[:n], "little")).to_bytes(n, "little")


def text_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked, final text frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((_FIN_TEXT, n)) + payload
    if n < 65536:
        return bytes((_FIN_TEXT, 126)) + n.to_bytes(2, "big") + payload
    return bytes((_FIN_TEXT, 127)) + n.to_bytes(8, "big") + payload


@implementer(IPushProducer)
class RpcProtocol(WebSocketServerProtocol):
    """One client connection."""

    # Not ``log``: that would replace Autobahn's own logger, whose many
    # per-frame debug calls then cost a full log event each.
    _log = Logger()
    session: Optional[Session] = None
    _peer_text = ""
    _cert_principal = None
    #: the address's slot in the gate (see :mod:`camservice.server.site`)
    _slot = None
    _auth_deadline = None
    _limiter = None
    _seconds = None
    #: bytes sent while the transport's buffer was full; None: not paused
    _backlog: Optional[int] = None
    #: whole single-frame messages may take the short path (set on open)
    _fast = False
    #: the plain TCP socket replies may be written to directly, or None
    _socket = None

    def onConnect(self, request):
        factory: RpcWebSocketFactory = self.factory
        self._peer_text = request.peer
        if factory.tls is not None:
            certificate = self.transport.getPeerCertificate()
            if certificate is not None:
                self._cert_principal = factory.tls.identities.principal_for(certificate)
        return None

    def onOpen(self) -> None:
        factory: RpcWebSocketFactory = self.factory
        self._limiter = factory.new_rate_limiter()
        self._seconds = factory.clock.seconds
        self.session = session = Session(
            factory.clock,
            self._send_notification,
            peer=self._peer_text,
            rate_limiter=self._limiter,
            tls=factory.tls is not None,
        )
        # Become the transport's producer (in place of the HTTP channel the
        # connection started with): told when its buffer fills and drains.
        transport = self.transport
        transport.unregisterProducer()
        transport.registerProducer(self, True)
        self._fast = (
            self._perMessageCompress is None
            and self.applyMask
            and self.requireMaskedClientFrames
            and not (self.logFrames or self.logOctets or self.trackedTimings)
        )
        if isinstance(transport, tcp.Connection) and hasattr(transport, "_tempDataLen"):
            self._socket = transport.socket
        factory.opened(self)
        self._log.info("client connected from {peer}", peer=session.peer, conn_id=session.conn_id)
        if self._cert_principal is not None:
            session.log_in(self._cert_principal)
            _audit.info(
                "authenticated {user_id} as {role} by {auth_method}",
                audit=True,
                outcome="success",
                user_id=self._cert_principal.user_id,
                role=self._cert_principal.role.name,
                auth_method="certificate",
                credential_id=self._cert_principal.credential_id,
                peer=session.peer,
                conn_id=session.conn_id,
            )
        elif factory.config.auth_timeout:
            self._auth_deadline = factory.clock.callLater(factory.config.auth_timeout, self._auth_timed_out)

    def dataReceived(self, data: bytes) -> None:
        # Autobahn's own dataReceived formats a debug line per read
        if (
            self._fast
            and self.state == _OPEN
            and self.current_frame is None
            and not self.inside_message
            and not self.data
        ):
            data = self._take_messages(data)
            if not data:
                return
        self._dataReceived(data)

    def _take_messages(self, data: bytes) -> bytes:
        """Deliver the whole small text messages at the start of ``data``.

        :returns: what is left for Autobahn: the first frame that is not
            a whole, masked, single-frame text message within the size
            limits (Autobahn then applies its rules to it), and all after.
        """
        frame_limit = self.maxFramePayloadSize
        message_limit = self.maxMessagePayloadSize
        size = len(data)
        pos = 0
        while self.state == _OPEN and size - pos >= 6 and data[pos] == _FIN_TEXT:
            n = data[pos + 1]
            if n < 0x80:  # unmasked
                break
            n &= 0x7F
            if n < 126:
                start = pos + 6
            elif n == 126 and size - pos >= 8:
                n = (data[pos + 2] << 8) | data[pos + 3]
                if n < 126:  # not the shortest encoding
                    break
                start = pos + 8
            else:
                break
            end = start + n
            if end > size or 0 < frame_limit < n or 0 < message_limit < n:
                break
            payload = unmask(data, start, end)
            pos = end
            if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:
                self._cancelAutoPingTimeoutCall()
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as e:
                self._invalid_payload(
                    f"encountered invalid UTF-8 while processing text message at payload octet index {e.start}"
                )
                return b""
            self.onMessage(text, False)
        return data[pos:] if pos else data

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        session = self.session
        if session is None:
            return
        session.last_activity = self._seconds()
        if isBinary:
            self._send(_BINARY_REPLY)
            return
        reply = self.factory.dispatcher.handle(session, payload)
        if reply is not None:
            if isinstance(reply, defer.Deferred):
                reply.addCallback(self._send_reply)
            else:
                self._send(reply)
        if self._limiter is not None and self._limiter.abusive:
            self._limiter.abusive = False
            self.factory.sessions.end(session.session_id, CLOSE_RATE_LIMITED, "rate limit exceeded again and again")

    def _send_reply(self, reply: Optional[bytes]) -> None:
        if reply is not None:
            self._send(reply)

    def _send_notification(self, payload: bytes) -> None:
        self._send(payload)

    def _send(self, payload: bytes) -> None:
        if self.state != WebSocketServerProtocol.STATE_OPEN:
            return
        if self._backlog is not None:
            self._backlog += len(payload)
            if self._backlog > self.factory.config.max_send_buffer:
                self._overflow()
                return
        if self._fast and self.send_state == _SEND_GROUND and not self.send_queue and not self.autoFragmentSize:
            self._write(text_frame(payload))
            return
        limit = self.maxMessagePayloadSize
        if 0 < limit < len(payload):
            # server.max_message_size bounds what clients send; Autobahn
            # applies it to sending too, and would refuse a large reply
            # (a page of 1000 files)
            self.maxMessagePayloadSize = 0
            try:
                self.sendMessage(payload)
            finally:
                self.maxMessagePayloadSize = limit
            return
        self.sendMessage(payload)

    def _write(self, data: bytes) -> None:
        """Write ``data``: straight to the socket when nothing is queued
        before it, which saves the reactor a round of write interest on
        and off; the transport buffers whatever the socket does not take."""
        transport = self.transport
        sock = self._socket
        if (
            sock is not None
            and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
            and transport.connected
            and not transport.disconnecting
        ):
            try:
                sent = sock.send(data)
            except OSError:  # full (EAGAIN) or broken: the transport finds out
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

    # IPushProducer: the transport calls these as its buffer fills and drains

    def pauseProducing(self) -> None:
        if self._backlog is None:
            self._backlog = 0
            self.transport.pauseProducing()  # stop reading from this client

    def resumeProducing(self) -> None:
        if self._backlog is not None:
            self._backlog = None
            # also while closing: the client's close reply must be read
            self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self._backlog = None

    def _overflow(self) -> None:
        session = self.session
        self._log.warn(
            "closing {peer}: it does not read, {limit} bytes wait for it",
            peer=session.peer,
            limit=self.factory.config.max_send_buffer,
            conn_id=session.conn_id,
        )
        self.factory.sessions.remove(session)
        self.sendCloseFrame(code=CLOSE_SEND_BUFFER_FULL, reasonUtf8=b"client does not read its replies")

    def _auth_timed_out(self) -> None:
        self._auth_deadline = None
        session = self.session
        if session is not None and session.principal is None and not session.expired:
            self.factory.sessions.end(session.session_id, CLOSE_AUTH_TIMEOUT, "not authenticated in time")

    def end_session(self, session: Session, code: int, reason: str) -> None:
        """Tell the client why, then close with ``code`` (4000-4999 or 1008)."""
        if self.state != WebSocketServerProtocol.STATE_OPEN:
            return
        self._send(session_ended_notification(session, code, reason, self.factory.clock))
        if self.state != WebSocketServerProtocol.STATE_OPEN:
            return
        if code == CLOSE_SEND_BUFFER_FULL:
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8")[:120])
        else:
            self.sendClose(code, reason[:120])

    def onClose(self, wasClean: bool, code: Optional[int], reason: Optional[str]) -> None:
        if self._auth_deadline is not None:
            if self._auth_deadline.active():
                self._auth_deadline.cancel()
            self._auth_deadline = None
        if self.session is None:
            return
        self.factory.closed(self)
        self._log.info(
            "client disconnected (code {code}, clean {clean})",
            code=code,
            clean=wasClean,
            conn_id=self.session.conn_id,
        )

    def connectionLost(self, reason) -> None:
        super().connectionLost(reason)
        slot, self._slot = self._slot, None
        if slot is not None:
            self.factory.release_slot(slot)
        self._let_go()

    def _let_go(self) -> None:
        """Break the reference cycles a connection makes, so that once it
        is closed reference counting frees it (and its session, buffers and
        Autobahn's per-connection objects) at once. Left to the cycle
        collector, a thousand clients leaving made a full collection of some
        50,000 objects: every other client's request waited for it.

        The cycles: the session's ``send`` is a method of this protocol,
        which holds the session; Autobahn's ``is_closed`` Deferred has this
        protocol as its result. Nothing reads ``is_closed`` after the close.
        """
        if self.session is not None:
            self.session.disconnect()
        self.is_closed = None
        self._socket = None

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
    :param sessions: the session table.
    :param gate: the address gate whose slots connections hold.
    :param tls: the port's TLS (client certificates), or ``None``.
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
        sessions: SessionTable,
        gate=None,
        tls=None,
    ):
        super().__init__(url, reactor=reactor)
        self.noisy = False
        self.clock = reactor
        self.dispatcher = dispatcher
        self.notifier = notifier
        self.metrics = metrics
        self.sessions = sessions
        self.gate = gate
        self.tls = tls
        #: set by the site around the upgrade: the slot the next protocol takes
        self.pending_slot = None
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
        return TokenBucket(limit.requests_per_second, limit.burst, self.clock, limit.close_after)

    def buildProtocol(self, addr):
        proto = super().buildProtocol(addr)
        slot, self.pending_slot = self.pending_slot, None
        if slot is not None and self.gate is not None:
            proto._slot = slot
        return proto

    def release_slot(self, slot: tuple) -> None:
        if self.gate is not None:
            self.gate.release(slot[0])

    def opened(self, proto: RpcProtocol) -> None:
        self.sessions.add(proto.session, proto.end_session)
        self.open_protocols.add(proto)
        self._peak = max(self._peak, len(self.open_protocols))
        self.trimmer.busy()
        self.notifier.attach(proto.session)
        self.metrics.connections.set(len(self.open_protocols))
        self.metrics.connections_total.inc()

    def closed(self, proto: RpcProtocol) -> None:
        self.sessions.remove(proto.session)
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
