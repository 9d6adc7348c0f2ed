"""paho-mqtt driven by the reactor: no network thread of paho's own.

paho tells us through its socket callbacks when its socket opens, closes,
and has something to write; the socket is then an ``IReadDescriptor`` /
``IWriteDescriptor`` in the reactor, whose ``doRead`` / ``doWrite`` call
``loop_read`` / ``loop_write``, and a ``LoopingCall`` runs ``loop_misc``
(keep-alive pings, the broker's silence noticed). The only blocking step,
opening the connection (the host name's resolution, the TCP connect, the
TLS handshake, reading the password file), runs in a thread; every paho
callback it triggers is handed to the reactor thread.

Lost or refused connections are retried with :class:`Backoff`; nothing of
this ever waits in the reactor, so a broker that is down or slow leaves the
rest of the service alone.
"""
from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from twisted.internet import defer, task, threads
from twisted.internet.interfaces import IReadDescriptor, IWriteDescriptor
from twisted.logger import Logger
from zope.interface import implementer

from camservice.mqtt import compat
from camservice.mqtt.backoff import Backoff

__all__ = ["ClientState", "ConnectionSettings", "ReactorMqttClient"]

#: packets read at most per readable event (the rest wait for the next)
READ_PACKETS = 16
#: seconds between paho's housekeeping calls
MISC_INTERVAL = 1.0
#: seconds the broker has to answer CONNECT with CONNACK
CONNACK_TIMEOUT = 10.0
#: seconds a clean stop waits for the DISCONNECT to be written
STOP_TIMEOUT = 2.0


class ClientState:
    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting"  # to reconnect


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to connect.

    :ivar will: ``(topic, payload, qos, retain)`` or ``None``.
    """

    host: str
    port: int
    client_id: str
    keepalive: int = 60
    username: Optional[str] = None
    password_file: Optional[Path] = None
    tls: bool = False
    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None
    key_file: Optional[Path] = None
    will: Optional[tuple] = None


def read_password(path: Optional[Path]) -> Optional[str]:
    """The first line of ``path`` (blocking: call it in a thread)."""
    if path is None:
        return None
    lines = Path(path).read_text("utf-8").splitlines()
    return lines[0].strip() if lines else ""


_log = Logger()


@implementer(IReadDescriptor, IWriteDescriptor)
class _SocketDescriptor:
    """paho's socket as the reactor sees it."""

    def __init__(self, client, sock):
        self._client = client
        self._sock = sock
        self._fd = sock.fileno()

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> None:
        # never raise: the reactor would drop the descriptor while paho
        # still thinks itself connected
        try:
            self._client.loop_read(READ_PACKETS)
            # TLS may hold decrypted bytes the socket no longer signals
            sock = self._sock
            while isinstance(sock, ssl.SSLSocket) and self._client.socket() is sock and sock.pending():
                self._client.loop_read(READ_PACKETS)
        except Exception:
            _log.failure("MQTT: reading from the broker failed")

    def doWrite(self) -> None:
        try:
            self._client.loop_write()
        except Exception:
            _log.failure("MQTT: writing to the broker failed")

    def connectionLost(self, reason) -> None:
        """paho closes its socket itself and tells us."""

    def logPrefix(self) -> str:
        return "mqtt"


class ReactorMqttClient:
    """One MQTT 5 session with a broker, kept up until :meth:`stop`.

    :param reactor: ``IReactorFDSet``, ``IReactorTime``, ``IReactorThreads``.
    :param settings: the broker and credentials.
    :param backoff: delays between attempts.
    :param on_connected: ``()``: the session is up (subscribe, republish).
    :param on_disconnected: ``()``: the session that was up is gone.
    :param on_message: ``(topic, payload, properties, retained)``.
    :param run_blocking: ``(f, *args) -> Deferred`` for the connection's
        blocking part (default: the reactor's thread pool).
    :param on_attempt: ``()`` at each reconnection attempt (metrics).
    """

    log = Logger()

    def __init__(
        self,
        reactor,
        settings: ConnectionSettings,
        backoff: Backoff,
        on_connected: Callable[[], None],
        on_disconnected: Callable[[], None],
        on_message: Callable[[str, bytes, Any], None],
        run_blocking: Optional[Callable] = None,
        on_attempt: Callable[[], None] = lambda: None,
    ):
        self._reactor = reactor
        self.settings = settings
        self._backoff = backoff
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._on_message = on_message
        self._run_blocking = run_blocking or (
            lambda f, *a: threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *a)
        )
        self._on_attempt = on_attempt
        self._reactor_thread = threading.current_thread()
        self.state = ClientState.STOPPED
        self.detail = ""
        self._client = None
        self._descriptor: Optional[_SocketDescriptor] = None
        self._misc: Optional[task.LoopingCall] = None
        self._retry = None
        self._connack_timer = None
        self._stopped: Optional[defer.Deferred] = None
        self._attempt_done: Optional[defer.Deferred] = None
        #: mids of QoS 1/2 messages not yet acknowledged (this session)
        self._unacked: set[int] = set()
        self._acked_waiters: list[Callable[[], None]] = []

    # -- life ----------------------------------------------------------------

    def start(self) -> None:
        """Connect, and stay connected until :meth:`stop`."""
        if self.state is not ClientState.STOPPED:
            return
        self._backoff.reset()
        self._attempt()

    def stop(self) -> defer.Deferred:
        """Disconnect cleanly (no will) and stop reconnecting; fires once
        the socket is closed (or after :data:`STOP_TIMEOUT` seconds)."""
        was = self.state
        self.state = ClientState.STOPPED
        self._cancel_timers()
        client = self._client
        if was is ClientState.CONNECTED and client is not None:
            done = self._stopped = defer.Deferred()
            timer = self._reactor.callLater(STOP_TIMEOUT, self._drop, client)
            done.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
            # the last messages acknowledged first: closing with the
            # broker's PUBACKs unread would reset the connection (RST),
            # and the broker could lose the DISCONNECT and send the will
            self._when_acked(lambda: client.disconnect() if client is self._client else None)
            return done
        if self._attempt_done is not None:
            # the thread opening a socket finishes; that socket is dropped
            d = defer.Deferred()
            self._attempt_done.addBoth(lambda r: (d.callback(None), r)[1])
            return d
        if client is not None:
            self._drop(client)
        return defer.succeed(None)

    @property
    def connected(self) -> bool:
        return self.state is ClientState.CONNECTED

    # -- sending ------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties=None) -> bool:
        """Queue one message; ``False`` when not connected (nothing sent)."""
        if self.state is not ClientState.CONNECTED or self._client is None:
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if compat.reason_value(info.rc) != 0:
            return False
        if qos > 0:
            self._unacked.add(info.mid)
        return True

    def _when_acked(self, then: Callable[[], None]) -> None:
        """``then()`` once every QoS 1/2 message sent is acknowledged."""
        if not self._unacked:
            then()
        else:
            self._acked_waiters.append(then)

    def _paho_publish(self, client, userdata, mid, *rest) -> None:
        if client is not self._client:
            return
        self._unacked.discard(mid)
        if not self._unacked:
            waiters, self._acked_waiters = self._acked_waiters, []
            for then in waiters:
                then()

    def subscribe(self, topics: list[str], qos: int, no_local: bool = False) -> None:
        """Subscribe; with ``no_local`` the broker does not send back what
        this client publishes (retained messages still come)."""
        if self.state is ClientState.CONNECTED and self._client is not None and topics:
            option = compat.subscribe_options(qos, no_local) if no_local else qos
            self._client.subscribe([(t, option) for t in topics])

    def unsubscribe(self, topics: list[str]) -> None:
        if self.state is ClientState.CONNECTED and self._client is not None and topics:
            self._client.unsubscribe(list(topics))

    # -- connecting ---------------------------------------------------------

    def _attempt(self) -> None:
        self._retry = None
        self.state = ClientState.CONNECTING
        self._unacked.clear()
        client = self._client = self._new_client()
        self._on_attempt()
        done = self._attempt_done = self._run_blocking(self._open, client, self.settings)
        done.addCallbacks(self._opened, self._open_failed, callbackArgs=(client,), errbackArgs=(client,))

    def _new_client(self):
        s = self.settings
        client = compat.make_client(s.client_id)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_publish = self._paho_publish
        client.on_socket_open = lambda c, u, sock: self._in_reactor(self._socket_open, c, sock)
        client.on_socket_close = lambda c, u, sock: self._in_reactor(self._socket_close, c, sock)
        client.on_socket_register_write = lambda c, u, sock: self._in_reactor(self._want_write, c, sock, True)
        client.on_socket_unregister_write = lambda c, u, sock: self._in_reactor(self._want_write, c, sock, False)
        if s.will is not None:
            topic, payload, qos, retain = s.will
            client.will_set(topic, payload, qos=qos, retain=retain)
        if s.tls:
            client.tls_set(
                ca_certs=str(s.ca_file) if s.ca_file else None,
                certfile=str(s.cert_file) if s.cert_file else None,
                keyfile=str(s.key_file) if s.key_file else None,
            )
        return client

    @staticmethod
    def _open(client, settings: ConnectionSettings) -> None:
        """In a thread: resolve, connect, handshake, queue CONNECT."""
        if settings.username is not None or settings.password_file is not None:
            client.username_pw_set(settings.username or "", read_password(settings.password_file))
        client.connect_async(settings.host, settings.port, keepalive=settings.keepalive, clean_start=True)
        rc = client.reconnect()
        if compat.reason_value(rc) != 0:
            raise ConnectionError(f"paho refused to connect: rc {rc}")
        # small messages go out at once: with Nagle's algorithm, a reply
        # written right after a PUBACK waits for the broker's delayed ACK
        sock = client.socket()
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass

    def _opened(self, _result, client) -> None:
        self._attempt_done = None
        if client is self._client and self.state is ClientState.CONNECTED:
            # the socket was in the reactor before the thread's result came
            # back, and the broker's CONNACK was read first: nothing to do
            return
        if client is not self._client or self.state is not ClientState.CONNECTING:
            self._drop(client)
            return
        if client.want_write():
            self._want_write(client, client.socket(), True)
        self._connack_timer = self._reactor.callLater(CONNACK_TIMEOUT, self._connack_missing, client)

    def _open_failed(self, failure, client) -> None:
        self._attempt_done = None
        if client is self._client:
            self._client = None
        try:
            client.socket() and client._sock_close()
        except Exception:
            pass
        if self.state is ClientState.STOPPED:
            return
        self._retry_later(f"cannot connect: {failure.getErrorMessage()}")

    def _connack_missing(self, client) -> None:
        self._connack_timer = None
        if client is self._client and self.state is ClientState.CONNECTING:
            self._drop(client)
            self._retry_later("the broker did not answer CONNECT")

    def _retry_later(self, why: str) -> None:
        if self.state is ClientState.STOPPED:
            return
        self._stop_misc()
        delay = self._backoff.next_delay()
        self.state = ClientState.WAITING
        self.detail = why
        self.log.info("MQTT: {host}:{port}: {why}; next attempt in {delay:.1f} s", host=self.settings.host,
                      port=self.settings.port, why=why, delay=delay)
        self._retry = self._reactor.callLater(delay, self._attempt)

    def _drop(self, client) -> None:
        """Close ``client``'s socket at once (no DISCONNECT)."""
        sock = client.socket()
        if sock is not None:
            try:
                client._sock_close()
            except Exception:
                pass
        self._socket_close(client, sock)
        if client is self._client:
            self._client = None
            self._acked_waiters = []
        self._fire_stopped()

    def _cancel_timers(self) -> None:
        for name in ("_retry", "_connack_timer"):
            call = getattr(self, name)
            if call is not None and call.active():
                call.cancel()
            setattr(self, name, None)

    # -- paho's callbacks ----------------------------------------------------

    def _in_reactor(self, f, *args) -> None:
        if threading.current_thread() is self._reactor_thread:
            f(*args)
        else:
            self._reactor.callFromThread(f, *args)

    def _socket_open(self, client, sock) -> None:
        if client is not self._client or sock is None:
            return
        self._remove_descriptor()
        self._descriptor = _SocketDescriptor(client, sock)
        self._reactor.addReader(self._descriptor)
        self._misc = task.LoopingCall(self._housekeeping, client)
        self._misc.clock = self._reactor
        self._misc.start(MISC_INTERVAL, now=False)

    def _socket_close(self, client, sock) -> None:
        if client is self._client:
            self._remove_descriptor()
            self._stop_misc()

    def _want_write(self, client, sock, on: bool) -> None:
        d = self._descriptor
        if client is not self._client or d is None:
            return
        if on:
            self._reactor.addWriter(d)
        else:
            self._reactor.removeWriter(d)

    def _remove_descriptor(self) -> None:
        d, self._descriptor = self._descriptor, None
        if d is not None:
            self._reactor.removeReader(d)
            self._reactor.removeWriter(d)

    def _stop_misc(self) -> None:
        misc, self._misc = self._misc, None
        if misc is not None and misc.running:
            misc.stop()

    def _housekeeping(self, client) -> None:
        if client is self._client:
            client.loop_misc()

    def _paho_connect(self, client, userdata, flags, rc, properties=None) -> None:
        if client is not self._client:
            return
        if self._connack_timer is not None and self._connack_timer.active():
            self._connack_timer.cancel()
        self._connack_timer = None
        code = compat.reason_value(rc)
        if code != 0:
            self._drop(client)
            self._retry_later(f"the broker refused the connection: {rc}")
            return
        self.state = ClientState.CONNECTED
        self.detail = ""
        self._backoff.reset()
        self.log.info("MQTT: connected to {host}:{port} as {client_id}", host=self.settings.host,
                      port=self.settings.port, client_id=self.settings.client_id)
        self._on_connected()

    def _paho_disconnect(self, client, userdata, *args) -> None:
        if client is not self._client:
            return
        was_connected = self.state is ClientState.CONNECTED
        self._remove_descriptor()
        self._stop_misc()
        self._client = None
        self._acked_waiters = []
        if was_connected:
            self._on_disconnected()
        if self.state is ClientState.STOPPED:
            self._fire_stopped()
            return
        self._retry_later(f"connection lost ({compat.disconnect_reason(args)})")

    def _fire_stopped(self) -> None:
        done, self._stopped = self._stopped, None
        if done is not None and not done.called:
            done.callback(None)

    def _paho_message(self, client, userdata, message) -> None:
        if client is not self._client:
            return
        try:
            self._on_message(message.topic, message.payload, getattr(message, "properties", None),
                             bool(message.retain))
        except Exception:
            self.log.failure("MQTT: handling a message on {topic} failed", topic=message.topic)
