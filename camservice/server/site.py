"""The HTTP side of the API port: one ``Site`` serving the WebSocket,
health checks and metrics."""
from __future__ import annotations

from autobahn.twisted.resource import WebSocketResource
from prometheus_client.twisted import MetricsResource
from twisted.web.resource import Resource
from twisted.web.server import Site

from camservice.metrics import Metrics
from camservice.server.health import HealthResource
from camservice.server.protocol import RpcWebSocketFactory
from camservice.status import SystemStatus

__all__ = ["build_site"]


class _QuietSite(Site):
    """A ``Site`` that does not write an access-log line per request (the
    WebSocket upgrade and every health probe would flood the log)."""

    def log(self, request) -> None:
        pass


def build_site(
    websocket_path: str, factory: RpcWebSocketFactory, status: SystemStatus, metrics: Metrics
) -> Site:
    """``websocket_path`` -> WebSocket, ``/health/*``, ``/metrics``."""
    root = Resource()
    parent = root
    segments = [s.encode("ascii") for s in websocket_path.strip("/").split("/")]
    for segment in segments[:-1]:
        child = Resource()
        parent.putChild(segment, child)
        parent = child
    parent.putChild(segments[-1], WebSocketResource(factory))
    root.putChild(b"health", HealthResource(status))
    root.putChild(b"metrics", MetricsResource(registry=metrics.registry))
    site = _QuietSite(root)
    site.noisy = False
    return site
