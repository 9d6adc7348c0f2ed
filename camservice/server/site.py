"""The HTTP side of the API port: one ``Site`` serving the WebSocket,
health checks and metrics, with the door rules every connection meets.

- Each TCP connection is admitted by address when it opens (the
  ``server.allowed_networks`` allow list and
  ``server.max_connections_per_address``), before TLS or HTTP see a byte;
  refusals are audited, one line per address and reason per 10 s.
- Each HTTP request must arrive whole within ``server.request_timeout``
  seconds (counted from the connection opening, or from the previous
  response on a kept-alive connection), so a client trickling headers
  ties nothing up for long.
- ``/metrics`` is public or needs admin credentials
  (``server.metrics_access``); ``/health/*`` is public; ``/files/*``
  needs a viewer's credentials (:mod:`camservice.server.files`); ``/``
  and ``/console/*``, the web console (:mod:`camservice.console`), are
  public: the page holds no data.
"""
from __future__ import annotations

from typing import Mapping, Optional

from camservice.server.ws_adapter import WebSocketResource
from prometheus_client.twisted import MetricsResource
from twisted.logger import Logger
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Site

from camservice.auth.authenticator import Authenticator
from camservice.auth.roles import Role
from camservice.metrics import Metrics
from camservice.security.networks import AddressGate, client_ip
from camservice.server.health import HealthResource
from camservice.server.protocol import RpcWebSocketFactory
from camservice.status import SystemStatus
from camservice.server.credentials import HeaderRefusal, header_principal

__all__ = ["ApiSite", "build_site"]

#: seconds between two audit lines for the same refused address and reason
REFUSAL_LOG_INTERVAL = 10.0

_audit = Logger(namespace="camservice.audit")


class _GuardedChannel(HTTPChannel):
    """An HTTP connection that holds its address's slot in the gate and
    must deliver each request before a deadline."""

    _log = Logger()
    _gate_host: Optional[str] = None
    _holds_slot = False
    _deadline = None

    def connectionMade(self) -> None:
        super().connectionMade()
        self._arm()

    def _arm(self) -> None:
        site: ApiSite = self.site
        if self._deadline is None and site.request_timeout:
            self._deadline = site.clock.callLater(site.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self._log.info(
            "dropped HTTP client {peer}: no whole request within {timeout} s",
            peer=self._gate_host,
            timeout=self.site.request_timeout,
        )
        if self.transport is not None:
            self.transport.abortConnection()

    def allContentReceived(self) -> None:
        self._disarm()
        super().allContentReceived()

    def requestDone(self, request) -> None:
        super().requestDone(request)
        if self.transport is not None:
            self._arm()  # the next request on a kept-alive connection

    def hand_over(self) -> Optional[tuple]:
        """Give this connection's gate slot to the WebSocket protocol that
        takes over the transport (the channel never hears of it again).

        :returns: ``(host,)``, or ``None`` if it holds no slot.
        """
        self._disarm()
        held, self._holds_slot = self._holds_slot, False
        return (self._gate_host,) if held else None

    def take_back(self, slot: Optional[tuple]) -> None:
        """The upgrade did not happen: the slot is this channel's again."""
        if slot is not None:
            self._holds_slot = True

    def connectionLost(self, reason) -> None:
        self._disarm()
        if self._holds_slot:
            self._holds_slot = False
            self.site.gate.release(self._gate_host)
        super().connectionLost(reason)


class ApiSite(Site):
    """The ``Site`` of the API port.

    :param gate: admits connections by address.
    :param clock: ``IReactorTime`` for the request deadline.
    :param request_timeout: seconds to deliver a whole request; 0: none.
    """

    protocol = _GuardedChannel
    noisy = False

    def __init__(self, resource, gate: AddressGate, clock, request_timeout: float):
        super().__init__(resource, reactor=clock)
        self.gate = gate
        self.clock = clock
        self.request_timeout = request_timeout
        self._refusals: dict[tuple, list] = {}

    def log(self, request) -> None:
        """No access-log line per request (the WebSocket upgrade and every
        health probe would flood the log)."""

    def buildProtocol(self, addr):
        host = client_ip(addr)
        verdict = self.gate.admit(host)
        if verdict is not AddressGate.ADMITTED:
            self._refused(host, verdict)
            return None
        channel = super().buildProtocol(addr)
        channel._gate_host = host
        channel._holds_slot = True
        return channel

    def _refused(self, host: Optional[str], verdict: str) -> None:
        now = self.clock.seconds()
        key = (host, verdict)
        entry = self._refusals.get(key)
        if entry is not None and now - entry[0] < REFUSAL_LOG_INTERVAL:
            entry[1] += 1
            return
        suppressed = entry[1] if entry is not None else 0
        if len(self._refusals) > 10000:  # a scan from many addresses: start over
            self._refusals.clear()
        self._refusals[key] = [now, 0]
        _audit.warn(
            "refused a connection from {peer}: {reason}",
            audit=True,
            outcome="refused",
            peer=host,
            reason=verdict,
            open_from_address=self.gate.open_from(host),
            refused_since_last=suppressed,
        )


class _GatedWebSocketResource(WebSocketResource):
    """Moves the connection's gate slot from the HTTP channel to the
    WebSocket protocol at the upgrade."""

    def render(self, request):
        channel = request.channel
        factory: RpcWebSocketFactory = self._factory
        slot = channel.hand_over() if isinstance(channel, _GuardedChannel) else None
        factory.pending_slot = slot
        try:
            return super().render(request)
        finally:
            if factory.pending_slot is not None:
                # no protocol took it
                factory.pending_slot = None
                if isinstance(channel, _GuardedChannel):
                    channel.take_back(slot)


class _AdminOnly(Resource):
    """Wraps a resource so that only admins may read it: a JWT or API key
    in ``Authorization: Bearer`` or ``X-API-Key``; with no
    :attr:`authenticator` (a reload may set or clear it) anyone may."""

    isLeaf = True

    def __init__(self, inner: Resource, authenticator: Optional[Authenticator]):
        super().__init__()
        self._inner = inner
        #: checks credentials; ``None``: the resource is public
        self.authenticator = authenticator

    def render(self, request):
        if self.authenticator is None:
            return self._inner.render(request)
        try:
            principal = header_principal(request, self.authenticator, Role.admin)
        except HeaderRefusal as refusal:
            return self._refuse(request, refusal.code, refusal.reason, refusal.user_id)
        if principal is None:
            return self._refuse(request, 401, "credentials required", None)
        return self._inner.render(request)

    def _refuse(self, request, code: int, reason: str, user_id: Optional[str]) -> bytes:
        _audit.warn(
            "refused {path} to {peer}: {reason}",
            audit=True,
            outcome="denied" if code == 403 else "failure",
            path=request.path.decode("ascii", "replace"),
            reason=reason,
            user_id=user_id,
            peer=client_ip(request.getClientAddress()),
        )
        request.setResponseCode(code)
        if code == 401:
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="camservice"')
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return reason.encode("utf-8") + b"\n"


def build_site(
    websocket_path: str,
    factory: RpcWebSocketFactory,
    status: SystemStatus,
    metrics: Metrics,
    gate: AddressGate,
    clock,
    request_timeout: float,
    metrics_authenticator: Optional[Authenticator] = None,
    resources: Mapping[bytes, Resource] = {},
) -> ApiSite:
    """``websocket_path`` -> WebSocket, ``/health/*``, ``/metrics``, and
    ``/files/*`` when ``files`` is given.

    :param metrics_authenticator: when given, ``/metrics`` needs admin
        credentials checked by it; ``None`` leaves it public (the site's
        ``metrics_access.authenticator`` changes it later).
    :param resources: more top-level resources by path segment (e.g.
        ``b"cameras"``), each doing its own access checks.
    """
    root = Resource()
    parent = root
    segments = [s.encode("ascii") for s in websocket_path.strip("/").split("/")]
    for segment in segments[:-1]:
        child = Resource()
        parent.putChild(segment, child)
        parent = child
    parent.putChild(segments[-1], _GatedWebSocketResource(factory))
    root.putChild(b"health", HealthResource(status))
    metrics_resource = _AdminOnly(MetricsResource(registry=metrics.registry), metrics_authenticator)
    root.putChild(b"metrics", metrics_resource)
    for segment, resource in resources.items():
        root.putChild(segment, resource)
    site = ApiSite(root, gate, clock, request_timeout)
    #: whose credentials ``/metrics`` needs (``metrics_access.authenticator``)
    site.metrics_access = metrics_resource
    return site
