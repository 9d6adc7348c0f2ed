"""The ``stream-auth`` service: the loopback listener MediaMTX asks."""
from __future__ import annotations

from typing import Optional

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

from camservice._defer import async_to_deferred
from camservice.metrics import Metrics
from camservice.server.listening import listen_tcp
from camservice.service import Component
from camservice.streamauth.policy import StreamAccessPolicy
from camservice.streamauth.resource import StreamAuthResource

__all__ = ["AUTH_PATH", "LISTEN_HOST", "StreamAuthServer", "auth_url"]

#: the endpoint's only address: never the API's interface, which may
#: face the network
LISTEN_HOST = "127.0.0.1"
AUTH_PATH = "/mediamtx/auth"


def auth_url(port: int) -> str:
    """MediaMTX's ``authHTTPAddress`` for the endpoint on ``port``."""
    return f"http://{LISTEN_HOST}:{port}{AUTH_PATH}"


class _QuietSite(Site):
    """No access-log line per request (MediaMTX asks on every read)."""

    def log(self, request) -> None:
        pass


class StreamAuthServer(Component):
    """Answers MediaMTX's auth requests on ``127.0.0.1:port``.

    It starts before MediaMTX (which asks it about camservice's own Control
    API calls too) and stops after it. The port is opened in
    ``privilegedStartService``; a failure to bind stops startup.

    A reload that moves ``streams.auth_port`` opens the new port first
    (a failure to bind refuses the reload), before MediaMTX is told the
    new ``authHTTPAddress`` (see :class:`camservice.mediamtx.process.MediaMTXProcess`);
    the old port keeps answering for :attr:`retire_after` seconds, so
    requests MediaMTX sends meanwhile are still answered, and a rollback
    finds it open.

    :param port: ``streams.auth_port``.
    :param reactor: provides ``IReactorTCP`` and ``IReactorTime``.
    :param audit: where refusals are recorded (and summarised).
    """

    log = Logger()
    reloadable_keys = ("streams.auth_port",)
    #: seconds a port left by a reload keeps answering
    retire_after = 10.0

    def __init__(self, port: int, policy: StreamAccessPolicy, metrics: Metrics, reactor, audit=None):
        super().__init__()
        self._port_number = port
        self._reactor = reactor
        root = Resource()
        mediamtx = Resource()
        root.putChild(b"mediamtx", mediamtx)
        self.resource = StreamAuthResource(policy, metrics, audit)
        mediamtx.putChild(b"auth", self.resource)
        self.site = _QuietSite(root)
        self.site.noisy = False
        self.port = None
        #: configured port number -> a listening port left by a reload
        self._retiring: dict[int, tuple[object, object]] = {}

    @property
    def listening_port(self) -> Optional[int]:
        return self.port.getHost().port if self.port is not None else None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._listen()

    def _listen(self) -> None:
        if self.port is not None:
            return
        self.port = listen_tcp(self._reactor, self._port_number, self.site, LISTEN_HOST, "streams.auth_port")

    def start(self) -> None:
        self._listen()
        self.log.info("stream auth listening on {url}", url=auth_url(self.listening_port))

    def checkConfig(self, new) -> None:
        """Refuse a new port in external mode (MediaMTX's own config names
        it); whether a port is free shows when it is opened."""
        if new.mediamtx.mode == "external" and new.streams.auth_port != self._port_number:
            from camservice.config.errors import ConfigError, ConfigProblem

            raise ConfigError([ConfigProblem(
                "streams.auth_port",
                "MediaMTX runs in external mode: its authHTTPAddress is in its own configuration; "
                "change both, then restart camservice",
            )])

    def reconfigService(self, new) -> None:
        """Listen on ``new.streams.auth_port`` (kept open if it was left
        moments ago).

        :raises StartupError: the port cannot be opened (nothing changed).
        """
        number = new.streams.auth_port
        if number == self._port_number:
            return None
        if self.port is None:  # not running: opened at start
            self._port_number = number
            return None
        kept = self._retiring.pop(number, None)
        if kept is not None:
            port, call = kept
            if call.active():
                call.cancel()
        else:
            port = listen_tcp(self._reactor, number, self.site, LISTEN_HOST, "streams.auth_port")
        old_number, old_port = self._port_number, self.port
        self.port, self._port_number = port, number
        self._retiring[old_number] = (old_port, self._reactor.callLater(self.retire_after, self._retire, old_number))
        self.log.info("stream auth listening on {url}", url=auth_url(self.listening_port))
        return None

    def _retire(self, number: int) -> None:
        port, _ = self._retiring.pop(number)
        port.stopListening()

    @async_to_deferred
    async def stop(self) -> None:
        for number in list(self._retiring):
            port, call = self._retiring.pop(number)
            if call.active():
                call.cancel()
            await port.stopListening()
        if self.port is not None:
            port, self.port = self.port, None
            await port.stopListening()
