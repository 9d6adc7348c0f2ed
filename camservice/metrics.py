"""Prometheus metrics of the whole service, on a registry of its own.

One :class:`Metrics` per service tree (not prometheus-client's global
registry), so tests can run several trees in one process.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

__all__ = ["Metrics", "ResourceCollector"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics.

    Label children are cached, so recording a request costs a dictionary
    look-up and two increments.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "camservice_rpc_requests",
            "JSON-RPC requests answered, by method and result code (0 = success).",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "camservice_rpc_latency_seconds",
            "Time from a request's arrival to its reply, by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.connections = Gauge(
            "camservice_websocket_connections",
            "Open WebSocket connections.",
            registry=self.registry,
        )
        self.connections_total = Counter(
            "camservice_websocket_connections_opened",
            "WebSocket connections opened since start.",
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "camservice_config_reloads",
            "Configuration reloads, by outcome (applied, unchanged, refused, rolled_back).",
            ["outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "camservice_auth_failures",
            "Failed authentications and permission denials, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "camservice_rpc_rate_limited",
            "Requests refused by the per-connection rate limit.",
            registry=self.registry,
        )
        self.notifications = Counter(
            "camservice_notifications_sent",
            "Notifications sent to clients, by method.",
            ["method"],
            registry=self.registry,
        )
        self.cameras = Gauge(
            "camservice_cameras",
            "Cameras in the table, by status.",
            ["status"],
            registry=self.registry,
        )
        self.mediamtx_restarts = Counter(
            "camservice_mediamtx_restarts",
            "Times the managed MediaMTX was restarted after it exited.",
            registry=self.registry,
        )
        self.stream_restarts = Counter(
            "camservice_stream_restarts",
            "Sources restarted because they stayed ready but sent nothing (stalled).",
            registry=self.registry,
        )
        self.mediamtx_up = Gauge(
            "camservice_mediamtx_up",
            "1 when MediaMTX's Control API answers health checks, else 0.",
            registry=self.registry,
        )
        self.mediamtx_breaker = Gauge(
            "camservice_mediamtx_breaker_state",
            "Circuit breaker state of MediaMTX calls: 0 closed, 1 half-open, 2 open.",
            registry=self.registry,
        )
        self.mediamtx_calls = Counter(
            "camservice_mediamtx_calls",
            "Control API calls, by outcome (ok, unavailable, rejected, fast_fail).",
            ["outcome"],
            registry=self.registry,
        )
        self.reconciliations = Counter(
            "camservice_mediamtx_reconciliations",
            "Path changes made to bring MediaMTX in line with the camera table, by action.",
            ["action"],
            registry=self.registry,
        )
        self.recordings_active = Gauge(
            "camservice_recordings_active",
            "Cameras recording now.",
            registry=self.registry,
        )
        self.recordings_finished = Counter(
            "camservice_recordings_finished",
            "Recordings finalized, by outcome (stopped: the file is in place; failed: it could not be made).",
            ["outcome"],
            registry=self.registry,
        )
        self.recording_finalize_seconds = Histogram(
            "camservice_recording_finalize_seconds",
            "Seconds from a recording's stop to its file in place (segments joined, remuxed, fsynced).",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self._request_children: dict = {}
        self._latency_children: dict = {}

    def count_cameras(self, cameras) -> None:
        """Set the ``camservice_cameras`` gauge from the camera table."""
        counts = {"CONNECTED": 0, "DISCONNECTED": 0, "ERROR": 0}
        for camera in cameras:
            counts[camera.status.value] += 1
        for status, n in counts.items():
            self.cameras.labels(status).set(n)

    def observe_request(self, method: str, code: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (method, code)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(method, str(code))
        child.inc()
        hist = self._latency_children.get(method)
        if hist is None:
            hist = self._latency_children[method] = self.latency.labels(method)
        hist.observe(seconds)


class ResourceCollector:
    """Process figures as gauges, read from procfs when ``/metrics`` is
    scraped (prometheus-client renders it in a thread, so the data
    folder's walk happens there too, at most every minute).

    :param sampler: a :class:`camservice.sysinfo.SystemSampler`.
    """

    def __init__(self, sampler):
        self._sampler = sampler

    def describe(self):
        return []

    def collect(self):
        if self._sampler.data_dir_is_stale():
            self._sampler.measure_data_dir()
        r = self._sampler.resources()
        yield GaugeMetricFamily(
            "camservice_process_cpu_percent", "CPU use of camservice itself, % of one CPU.", value=r["cpu_usage"])
        yield GaugeMetricFamily(
            "camservice_process_resident_memory_bytes", "Resident memory of camservice itself.", value=r["memory_bytes"])
        if r["open_files"] is not None:
            yield GaugeMetricFamily(
                "camservice_process_open_files", "File descriptors camservice holds open.", value=r["open_files"])
        yield GaugeMetricFamily(
            "camservice_process_threads", "Threads of camservice.", value=r["threads"])
        yield GaugeMetricFamily(
            "camservice_children", "Child processes (MediaMTX, FFmpeg, ...) and their descendants.",
            value=len(r["children"]))
        yield GaugeMetricFamily(
            "camservice_children_cpu_percent", "CPU use of all child processes together, % of one CPU.",
            value=r["children_cpu_usage"])
        yield GaugeMetricFamily(
            "camservice_children_resident_memory_bytes", "Resident memory of all child processes together.",
            value=r["children_memory_bytes"])
        if r["data_dir_bytes"] is not None:
            yield GaugeMetricFamily(
                "camservice_data_dir_bytes", "Bytes of the files in the data folder.", value=r["data_dir_bytes"])
