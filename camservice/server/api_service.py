"""The ``api`` service: listens on the API port and closes clients cleanly."""
from __future__ import annotations

from typing import Optional

from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.config.model import ServerConfig
from camservice.errors import StartupError
from camservice.events import EventBus
from camservice.metrics import Metrics
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.notifier import Notifier
from camservice.server.protocol import RpcWebSocketFactory
from camservice.server.site import build_site
from camservice.service import Component
from camservice.status import SystemStatus

__all__ = ["ApiServer"]


class ApiServer(Component):
    """WebSocket JSON-RPC, ``/health/*`` and ``/metrics`` on one port.

    The port is opened in ``privilegedStartService`` (before twistd drops
    privileges) and a failure to bind stops startup. At stop, the port is
    closed first, then every client gets a close frame (1001) and
    ``shutdown_timeout`` seconds to answer before it is dropped.

    :param config: the ``server`` section.
    :param reactor: provides ``IReactorTCP`` and ``IReactorTime``.
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
    ):
        super().__init__()
        self._config = config
        self._reactor = reactor
        self._notifier = notifier
        self._bus = bus
        url = f"ws://{config.host}:{config.port or 80}{config.websocket_path}"
        self.factory = RpcWebSocketFactory(url, config, dispatcher, notifier, metrics, reactor)
        self.site = build_site(config.websocket_path, self.factory, status, metrics)
        self.port = None

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
        try:
            self.port = self._reactor.listenTCP(self._config.port, self.site, interface=self._config.host)
        except CannotListenError as e:
            raise StartupError(
                f"cannot listen on {self._config.host}:{self._config.port}: {e.socketError}"
            ) from None

    def start(self) -> None:
        self._listen()
        self._notifier.start()
        self._bus.publish("system.startup", port=self.listening_port)
        self.log.info(
            "API listening on ws://{host}:{port}{path}",
            host=self._config.host,
            port=self.listening_port,
            path=self._config.websocket_path,
        )

    @async_to_deferred
    async def stop(self) -> None:
        self._bus.publish("system.shutdown", reason="the service is stopping")
        if self.port is not None:
            port, self.port = self.port, None
            await port.stopListening()
        await self.factory.close_all(self._config.shutdown_timeout)
        self.factory.trimmer.busy()
        self._notifier.stop()
        self.log.info("API stopped")
