"""A small JSON-RPC client of the service's own WebSocket API, for
``camservice-admin diagnose``: connect, authenticate, call, close."""
from __future__ import annotations

import itertools
import json
from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer

__all__ = ["ApiCallFailed", "ApiClient"]


class ApiCallFailed(Exception):
    """A call answered with an error, or the connection failed.

    :ivar error: the JSON-RPC ``error`` object, when there was one.
    """

    def __init__(self, message: str, error: Optional[dict] = None):
        super().__init__(message)
        self.error = error


class _Protocol(WebSocketClientProtocol):
    def onOpen(self):
        self.factory.client._opened(self)

    def onMessage(self, payload, isBinary):
        self.factory.client._received(payload)

    def onClose(self, wasClean, code, reason):
        self.factory.client._lost(code, reason)


class ApiClient:
    """One connection. Use :meth:`connect`.

    :param reactor: ``IReactorTCP`` and ``IReactorTime``.
    :param timeout: seconds each step (connect, each call) may take.
    """

    def __init__(self, reactor, timeout: float = 10.0):
        self._reactor = reactor
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, defer.Deferred] = {}
        self._open: Optional[defer.Deferred] = None
        self._proto: Optional[_Protocol] = None
        self._closed = defer.Deferred()

    async def connect(self, url: str) -> None:
        """Open the WebSocket at ``url`` (``ws://host:port/path``).

        :raises ApiCallFailed: refused, or not open within the timeout.
        """
        factory = WebSocketClientFactory(url, reactor=self._reactor)
        factory.protocol = _Protocol
        factory.client = self
        factory.noisy = False
        factory.clientConnectionFailed = lambda connector, reason: self._failed(reason)
        self._open = defer.Deferred()
        connector = self._reactor.connectTCP(factory.host, factory.port, factory, timeout=self._timeout)
        self._open.addTimeout(self._timeout, self._reactor)
        try:
            await self._open
        except defer.TimeoutError:
            connector.disconnect()
            raise ApiCallFailed(f"no WebSocket handshake with {url} within {self._timeout:g} s") from None

    def _failed(self, reason) -> None:
        if self._open is not None and not self._open.called:
            self._open.errback(ApiCallFailed(f"cannot connect: {reason.getErrorMessage()}"))

    def _opened(self, proto) -> None:
        self._proto = proto
        if self._open is not None and not self._open.called:
            self._open.callback(None)

    def _received(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if isinstance(message, dict) and "id" in message:
            waiter = self._pending.pop(message["id"], None)
            if waiter is not None:
                waiter.callback(message)

    def _lost(self, code, reason) -> None:
        error = ApiCallFailed(f"connection closed ({code}: {reason})")
        if self._open is not None and not self._open.called:
            self._open.errback(error)
        for waiter in self._pending.values():
            waiter.errback(error)
        self._pending.clear()
        if not self._closed.called:
            self._closed.callback(None)

    async def call(self, method: str, params: Optional[dict] = None) -> Any:
        """The ``result`` of ``method``.

        :raises ApiCallFailed: an error reply, a closed connection or no
            reply within the timeout.
        """
        if self._proto is None:
            raise ApiCallFailed("not connected")
        msg_id = next(self._ids)
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        waiter = defer.Deferred()
        self._pending[msg_id] = waiter
        waiter.addTimeout(self._timeout, self._reactor)
        self._proto.sendMessage(json.dumps(message).encode("utf-8"))
        try:
            reply = await waiter
        except defer.TimeoutError:
            self._pending.pop(msg_id, None)
            raise ApiCallFailed(f"{method}: no reply within {self._timeout:g} s") from None
        if "error" in reply:
            error = reply["error"]
            raise ApiCallFailed(f"{method}: {error.get('code')} {error.get('message')}", error)
        return reply.get("result")

    async def close(self) -> None:
        """Close the connection; waits up to the timeout for the server."""
        if self._proto is None or self._closed.called:
            return
        self._proto.sendClose(1000)
        waiter = defer.Deferred()
        self._closed.addBoth(lambda r: (waiter.callback(None) if not waiter.called else None, r)[1])
        waiter.addTimeout(self._timeout, self._reactor)
        try:
            await waiter
        except defer.TimeoutError:
            self._proto.dropConnection(abort=True)
