"""The ``api`` service: listens on the API port (plain or TLS) and closes
clients cleanly."""
from __future__ import annotations

import ipaddress
from typing import Mapping, Optional

from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.auth.authenticator import Authenticator
from camservice.config.model import ServerConfig
from camservice.events import EventBus
from camservice.metrics import Metrics
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.notifier import Notifier
from camservice.rpc.sessions import SessionTable
from camservice.security.networks import AddressGate, NetworkAllowList
from camservice.server.listening import listen_tcp
from camservice.server.protocol import RpcWebSocketFactory
from camservice.server.site import build_site
from camservice.service import Component
from camservice.status import SystemStatus

__all__ = ["ApiServer", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the port to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiServer(Component):
    """WebSocket JSON-RPC, ``/health/*`` and ``/metrics`` on one port.

    The port is opened in ``privilegedStartService`` (before twistd drops
    privileges) and a failure to bind stops startup. At stop, the port is
    closed first, then every client gets a close frame (1001) and
    ``shutdown_timeout`` seconds to answer before it is dropped.

    With ``server.tls.certificate`` set, the port speaks TLS only
    (``wss://`` and ``https://``); the certificate is loaded when the
    service is built, so a bad one stops startup with one line naming it.

    :param config: the ``server`` section.
    :param reactor: provides ``IReactorTCP`` and ``IReactorTime``.
    :param sessions: the session table (its checks run while the service
        runs).
    :param authenticator: checks credentials for ``/metrics`` when it is
        not public.
    :param resources: more HTTP resources by top-level path segment
        (:func:`camservice.server.site.build_site`).
    :raises ConfigError: the TLS files cannot be used.
    """

    log = Logger()

    def __init__(
        self,
        config: ServerConfig,
        dispatcher: Dispatcher,
        notifier: Notifier,
        status: SystemStatus,
        bus: EventBus,
        metrics: Metrics,
        reactor,
        sessions: SessionTable,
        authenticator: Authenticator,
        resources: Mapping = {},
    ):
        super().__init__()
        self._config = config
        self._reactor = reactor
        self._notifier = notifier
        self._bus = bus
        self.sessions = sessions
        self.tls = None
        if config.tls.enabled:
            from camservice.security.tls import load_server_tls

            self.tls = load_server_tls(config.tls, reactor)
        self.scheme = "wss" if self.tls is not None else "ws"
        self.gate = AddressGate(NetworkAllowList(config.allowed_networks), config.max_connections_per_address)
        url = f"{self.scheme}://{config.host}:{config.port or (443 if self.tls else 80)}{config.websocket_path}"
        self.factory = RpcWebSocketFactory(
            url, config, dispatcher, notifier, metrics, reactor, sessions, gate=self.gate, tls=self.tls
        )
        self._authenticator = authenticator
        self.site = build_site(
            config.websocket_path,
            self.factory,
            status,
            metrics,
            self.gate,
            reactor,
            config.request_timeout,
            self._metrics_authenticator(config),
            resources,
        )
        self.port = None
        self._tls_loaded: Optional[dict] = None

    def _metrics_authenticator(self, config: ServerConfig) -> Optional[Authenticator]:
        public = config.metrics_access == "public" or (config.metrics_access == "auto" and is_loopback(config.host))
        return None if public else self._authenticator

    #: ``server`` keys a reload takes: new connections get the new limits,
    #: open sessions a new rate limiter; a new certificate serves the next
    #: handshake; ``/metrics`` access applies to the next request. Bound
    #: address, port, path and turning TLS on or off need a restart.
    reloadable_keys = tuple(
        f"server.{key}" for key in (
            "max_connections", "max_message_size", "max_frame_size", "auto_ping_interval",
            "auto_ping_timeout", "open_handshake_timeout", "shutdown_timeout", "allowed_origins",
            "rate_limit", "auth_timeout", "max_connections_per_address", "request_timeout",
            "max_send_buffer", "allowed_networks", "tls.certificate", "tls.private_key", "tls.min_version",
            "tls.client_certificates", "tls.client_ca", "tls.client_identities", "metrics_access",
        )
    )

    def checkConfig(self, new) -> None:
        from camservice.config.errors import ConfigError, ConfigProblem

        if new.server.tls.enabled != self._config.tls.enabled:
            raise ConfigError([ConfigProblem(
                "server.tls.certificate",
                "cannot turn TLS on or off while running; restart camservice to apply it",
                str(new.server.tls.certificate) if new.server.tls.certificate else None,
            )])

    def reconfigService(self, new) -> None:
        """Take the new limits, networks and certificates (see
        :attr:`reloadable_keys`).

        :raises ConfigError: a certificate or key cannot be loaded (nothing
            changed then).
        """
        config = new.server
        if config == self._config:
            return None
        if self.tls is not None and config.tls != self._config.tls:
            from camservice.security.tls import load_server_tls

            if self._tls_loaded is None:
                self._tls_loaded = {self._config.tls: _tls_snapshot(self.tls)}
            loaded = self._tls_loaded.get(config.tls) or load_server_tls(config.tls, self._reactor)
            self._tls_loaded = {self._config.tls: self._tls_loaded[self._config.tls],
                                config.tls: _tls_snapshot(loaded)}
            self.tls.replace(loaded)
        self.factory.apply_config(config)
        self.gate.allow = NetworkAllowList(config.allowed_networks)
        self.gate.per_address = config.max_connections_per_address
        self.site.request_timeout = config.request_timeout
        self.site.metrics_access.authenticator = self._metrics_authenticator(config)
        for proto in list(self.factory.open_protocols):
            if proto.session is not None:
                proto.session.rate_limiter = self.factory.new_rate_limiter()
        self._config = config
        self.log.info("server limits updated; new connections get them")
        return None

    @property
    def listening_port(self) -> Optional[int]:
        """The TCP port actually bound (useful when configured as 0)."""
        return self.port.getHost().port if self.port is not None else None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._listen()

    def _listen(self) -> None:
        if self.port is not None:
            return
        factory = self.site
        if self.tls is not None:
            from camservice.security.tls import TlsListeningFactory

            factory = TlsListeningFactory(self.tls, False, self.site)
        self.port = listen_tcp(self._reactor, self._config.port, factory, self._config.host)

    def start(self) -> None:
        self._listen()
        self._notifier.start()
        self.sessions.start()
        self._bus.publish("system.startup", port=self.listening_port)
        self.log.info(
            "API listening on {scheme}://{host}:{port}{path}",
            scheme=self.scheme,
            host=self._config.host,
            port=self.listening_port,
            path=self._config.websocket_path,
        )
        if self.tls is None and not is_loopback(self._config.host):
            self.log.warn(
                "the API listens on {host} beyond loopback without TLS: credentials and replies cross the "
                "network in clear text; set server.tls.certificate",
                host=self._config.host,
            )

    @async_to_deferred
    async def stop(self) -> None:
        self._bus.publish("system.shutdown", reason="the service is stopping")
        if self.port is not None:
            port, self.port = self.port, None
            await port.stopListening()
        await self.factory.close_all(self._config.shutdown_timeout)
        self.sessions.stop()
        self.factory.trimmer.busy()
        self._notifier.stop()
        self.log.info("API stopped")


def _tls_snapshot(tls):
    """A copy of what :meth:`ServerTls.replace` swaps, to go back to."""
    import copy

    return copy.copy(tls)
