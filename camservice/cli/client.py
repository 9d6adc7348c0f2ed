"""The API connection: one WebSocket (Autobahn, on Twisted) carrying
JSON-RPC calls by id, the server's notifications, and why it closed.

Failures come out as :class:`~camservice.cli.exits.CliError` with the
exit code they mean: an error reply as :class:`ApiError`, anything that
keeps the call from being answered as CONNECTION.
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Callable, Optional

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS

from camservice.cli import exits
from camservice.cli.exits import CliError
from camservice.cli.target import Target

__all__ = ["ApiClient", "ApiError", "Closed"]


class ApiError(CliError):
    """The server answered a call with a JSON-RPC error."""

    def __init__(self, method: str, error: dict):
        code = error.get("code")
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        message = str(error.get("message", "error"))
        reason = data.get("reason")
        text = f"{method}: {message}" + (f": {reason}" if reason and reason != message else "")
        super().__init__(text, exits.for_rpc_error(code), {"code": code, "message": message, "data": data})
        self.code = code
        self.data = data


class Closed(CliError):
    """The connection closed (or never opened) while a call was waiting."""

    def __init__(self, message: str, close_code: Optional[int] = None):
        super().__init__(message, exits.for_close_code(close_code) if close_code else exits.CONNECTION,
                         {"close_code": close_code})
        self.close_code = close_code


class _Protocol(WebSocketClientProtocol):
    def onOpen(self):
        self.factory.client._opened(self)

    def onMessage(self, payload, isBinary):
        self.factory.client._received(payload)

    def onClose(self, wasClean, code, reason):
        self.factory.client._lost(code, reason)

    def connectionLost(self, reason):
        # before onClose: a failed TLS handshake is only visible here
        self.factory.client._lost_reason = reason
        super().connectionLost(reason)


class ApiClient:
    """One connection to ``target``; use :meth:`connect`, then :meth:`call`.

    :param reactor: ``IReactorTCP``, ``IReactorTime`` (and TLS for ``wss://``).
    :param on_notification: called with each notification object.
    """

    def __init__(self, reactor, target: Target, on_notification: Optional[Callable[[dict], None]] = None):
        self._reactor = reactor
        self._target = target
        self._on_notification = on_notification
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, defer.Deferred]] = {}
        self._open: Optional[defer.Deferred] = None
        self._proto: Optional[_Protocol] = None
        self._connected: Optional[_Protocol] = None  # TCP (and TLS) up, WebSocket maybe not yet
        self._lost_reason = None
        #: the notification the server sent before closing for a reason of its own
        self.session_ended: Optional[dict] = None
        #: fires with a :class:`Closed` (never errbacks) once the connection is gone
        self.closed: defer.Deferred = defer.Deferred()

    async def connect(self) -> None:
        """Open the WebSocket (TLS first for ``wss://``).

        :raises CliError: CONNECTION, with what failed.
        """
        target = self._target
        factory = WebSocketClientFactory(target.url, reactor=self._reactor)
        factory.protocol = _Protocol
        factory.client = self
        factory.noisy = False
        # the handshake deadline is ours (below), so that its expiry says so
        factory.setProtocolOptions(openHandshakeTimeout=0, closeHandshakeTimeout=2)
        endpoint = HostnameEndpoint(self._reactor, target.host, target.port, timeout=target.timeout)
        if target.secure:
            from camservice.cli.tls import client_options

            endpoint = wrapClientTLS(client_options(target), endpoint)
        self._open = defer.Deferred()
        try:
            self._connected = await endpoint.connect(factory).addTimeout(target.timeout, self._reactor)
            await self._open.addTimeout(target.timeout, self._reactor)
        except defer.TimeoutError:
            self.abort()
            raise CliError(f"cannot connect to {target.url}: no answer within {target.timeout:g} s",
                           exits.CONNECTION) from None
        except defer.CancelledError:  # interrupted: not a connection failure
            self.abort()
            raise
        except CliError:
            raise
        except Exception as e:  # ConnectError and its kin, DNS lookup failures
            raise CliError(f"cannot connect to {target.url}: {_describe(e)}", exits.CONNECTION) from None

    def _opened(self, proto) -> None:
        self._proto = proto
        if self._open is not None and not self._open.called:
            self._open.callback(None)

    def _received(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if "id" not in message and isinstance(message.get("method"), str):
            if message["method"] == "session_ended":
                self.session_ended = message.get("params") or {}
            if self._on_notification is not None:
                self._on_notification(message)
            return
        entry = self._pending.pop(message.get("id"), None)
        if entry is not None:
            entry[1].callback(message)

    def _lost(self, code, reason) -> None:
        if self._open is not None and not self._open.called:
            lost = self._lost_reason.value if self._lost_reason is not None else None
            if _is_tls_error(lost):
                text = f"TLS handshake failed: {_describe(lost)}"
            else:
                text = "the server closed the connection during the WebSocket handshake" + (f" ({reason})" if reason else "")
            self._open.errback(CliError(f"cannot connect to {self._target.url}: {text}", exits.CONNECTION))
        ended = self.session_ended or {}
        why = ended.get("reason") or reason or "no reason given"
        closed = Closed(f"the server closed the connection ({code}: {why})", code)
        for _method, waiter in self._pending.values():
            waiter.errback(closed)
        self._pending.clear()
        if not self.closed.called:
            self.closed.callback(closed)

    async def call(self, method: str, params: Optional[dict] = None) -> Any:
        """The ``result`` of ``method``.

        :raises ApiError: an error reply.
        :raises CliError: CONNECTION: closed, or no reply within the timeout.
        """
        if self._proto is None or self.closed.called:
            raise CliError("not connected", exits.CONNECTION)
        msg_id = next(self._ids)
        message: dict = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params:
            message["params"] = params
        waiter: defer.Deferred = defer.Deferred()
        self._pending[msg_id] = (method, waiter)
        waiter.addTimeout(self._target.timeout, self._reactor)
        self._proto.sendMessage(json.dumps(message).encode("utf-8"))
        try:
            reply = await waiter
        except defer.TimeoutError:
            self._pending.pop(msg_id, None)
            raise CliError(f"{method}: no reply within {self._target.timeout:g} s", exits.CONNECTION) from None
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            raise ApiError(method, error)
        return reply.get("result")

    async def authenticate(self) -> Optional[dict]:
        """``authenticate`` with the target's credential, if it has one;
        its result (role, expiry, session id)."""
        if self._target.credential is None:
            return None
        return await self.call("authenticate", {"auth_token": self._target.credential})

    def abort(self) -> None:
        """Drop the connection at once, opened or still opening."""
        proto = self._proto or self._connected
        transport = getattr(proto, "transport", None)
        if transport is not None:
            transport.abortConnection()

    async def close(self) -> None:
        """Close cleanly; waits a little for the server's close, then drops."""
        if self._proto is None or self.closed.called:
            return
        self._proto.sendClose(1000)
        waiter: defer.Deferred = defer.Deferred()
        self.closed.addBoth(lambda r: (None if waiter.called else waiter.callback(None), r)[1])
        waiter.addTimeout(3, self._reactor)
        try:
            await waiter
        except defer.TimeoutError:
            self.abort()


def _is_tls_error(error) -> bool:
    if error is None:
        return False
    try:
        from OpenSSL.SSL import Error
    except ImportError:  # pragma: no cover - TLS needs pyOpenSSL anyway
        return False
    return isinstance(error, Error)


def _describe(error) -> str:
    """One line about ``error``; pyOpenSSL's nested tuples made readable."""
    args = getattr(error, "args", ())
    if _is_tls_error(error) and args and isinstance(args[0], list):
        parts = [str(item[-1]) for item in args[0] if isinstance(item, tuple) and item]
        if parts:
            return ", ".join(parts)
    text = str(error).strip()
    return text or type(error).__name__
