"""A real Autobahn WebSocket client for tests: JSON-RPC calls by id,
notifications in a queue, and the close code the server sent."""
from __future__ import annotations

import itertools
import json
from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer
from twisted.internet.endpoints import SSL4ClientEndpoint, TCP4ClientEndpoint


class _Protocol(WebSocketClientProtocol):
    def onOpen(self):
        self.factory.client._opened(self)

    def onMessage(self, payload, isBinary):
        self.factory.client._received(payload)

    def onClose(self, wasClean, code, reason):
        self.factory.client._closed_with(wasClean, code, reason)


class RpcClient:
    """Use :func:`connect` to make one."""

    def __init__(self):
        self.proto: Optional[_Protocol] = None
        self.notifications: defer.DeferredQueue = defer.DeferredQueue()
        self.raw: defer.DeferredQueue = defer.DeferredQueue()
        self._pending: dict[Any, defer.Deferred] = {}
        self._ids = itertools.count(1)
        self._open = defer.Deferred()
        self.closed = defer.Deferred()
        self.close_code: Optional[int] = None

    def _opened(self, proto):
        self.proto = proto
        self._open.callback(self)

    def _received(self, payload: bytes):
        message = json.loads(payload)
        if isinstance(message, dict) and "method" in message and "id" not in message:
            self.notifications.put(message)
            return
        msg_id = message.get("id") if isinstance(message, dict) else None
        waiter = self._pending.pop(msg_id, None)
        if waiter is None and None in self._pending:
            waiter = self._pending.pop(None)
        if waiter is not None:
            waiter.callback(message)
        else:
            self.raw.put(message)

    def _closed_with(self, was_clean, code, reason):
        self.close_code = code
        if not self._open.called:
            self._open.errback(ConnectionError(f"handshake failed: {reason}"))
        for d in self._pending.values():
            d.errback(ConnectionError(f"closed with {code}: {reason}"))
        self._pending.clear()
        if not self.closed.called:
            self.closed.callback((code, reason))

    def request(self, message: dict) -> defer.Deferred:
        """Send ``message`` (it must carry an ``id``); fires with the reply."""
        d = defer.Deferred()
        self._pending[message.get("id")] = d
        self.proto.sendMessage(json.dumps(message).encode())
        return d

    def call(self, method: str, params: Optional[dict] = None, **extra) -> defer.Deferred:
        """Call ``method``; fires with the whole response object."""
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        message.update(extra)
        return self.request(message)

    def send_raw(self, payload: bytes, is_binary: bool = False, expect_id: Any = None) -> defer.Deferred:
        """Send any bytes; fires with the reply carrying ``expect_id``."""
        d = defer.Deferred()
        self._pending[expect_id] = d
        self.proto.sendMessage(payload, isBinary=is_binary)
        return d

    def notify(self, method: str, params: Optional[dict] = None) -> None:
        """Send a JSON-RPC notification (no reply expected)."""
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.proto.sendMessage(json.dumps(message).encode())

    def close(self) -> defer.Deferred:
        if self.proto is not None and not self.closed.called:
            self.proto.sendClose(1000)
        return self.closed


def connect(
    reactor, url: str, port: int, max_size: int = 16 * 1024 * 1024, tls=None, bind: Optional[str] = None
) -> defer.Deferred:
    """Open a WebSocket to ``url`` on 127.0.0.1:``port``.

    :param tls: client TLS options (``wss://``), e.g. from
        :func:`helpers.certs.client_tls_options`.
    :param bind: the local address to connect from (e.g. ``127.0.0.2``).
    :returns: a Deferred firing with a connected :class:`RpcClient`.
    """
    client = RpcClient()
    factory = WebSocketClientFactory(url, reactor=reactor)
    factory.noisy = False
    factory.protocol = _Protocol
    factory.client = client
    factory.setProtocolOptions(maxFramePayloadSize=max_size, maxMessagePayloadSize=max_size)
    source = (bind, 0) if bind is not None else None
    if tls is not None:
        endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", port, tls, timeout=5, bindAddress=source)
    else:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5, bindAddress=source)
    d = endpoint.connect(factory)
    d.addCallback(lambda _proto: client._open)
    return d
