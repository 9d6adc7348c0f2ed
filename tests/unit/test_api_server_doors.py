"""The API server's doors as configured: TLS on the listening port, a
warning for a plain port beyond loopback, /metrics public or not."""
from __future__ import annotations

import pytest

from camservice.config import load_config
from camservice.security.tls import TlsListeningFactory
from camservice.server.api_service import is_loopback
from helpers.certs import CertificateAuthority
from helpers.harness import make_harness


@pytest.fixture
def build(write_config, clock, tmp_path):
    harnesses = []

    def make(server: dict):
        harness = make_harness(load_config(write_config({"server": server})), clock)
        harnesses.append(harness)
        return harness.tree.getServiceNamed("api")

    yield make
    for h in harnesses:
        h.stop()


def _start_on(api, memory_reactor):
    api._reactor = memory_reactor
    api.start()


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("192.168.1.2", False), ("camera.lan", False)],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_plain_port_beyond_loopback_logs_a_warning(build, memory_reactor, log_events):
    events = log_events("camservice.server.api_service")
    api = build({"host": "0.0.0.0", "port": 0})
    _start_on(api, memory_reactor)
    warnings = [e for e in events if e["log_level"].name == "warn"]
    assert len(warnings) == 1 and warnings[0]["host"] == "0.0.0.0"
    assert "without TLS" in warnings[0]["log_format"]
    # beyond loopback, /metrics needs credentials by default
    assert api.site.metrics_access.authenticator is not None
    api.sessions.stop()
    api._notifier.stop()


def test_loopback_port_has_no_warning_and_public_metrics(build, memory_reactor, log_events):
    events = log_events("camservice.server.api_service")
    api = build({"host": "127.0.0.1", "port": 0})
    _start_on(api, memory_reactor)
    assert not [e for e in events if e["log_level"].name == "warn"]
    assert api.site.resource.children[b"metrics"] is api.site.metrics_access
    assert api.site.metrics_access.authenticator is None
    api.sessions.stop()
    api._notifier.stop()


def test_tls_port_listens_through_tls(build, memory_reactor, tmp_path, log_events):
    events = log_events("camservice.server.api_service")
    cert, key = CertificateAuthority().server().write(tmp_path, "server")
    api = build({"host": "0.0.0.0", "port": 0, "tls": {"certificate": str(cert), "private_key": str(key)}})
    _start_on(api, memory_reactor)
    (port, factory, _backlog, interface) = memory_reactor.tcpServers[0]
    assert isinstance(factory, TlsListeningFactory) and factory.wrappedFactory is api.site
    assert interface == "0.0.0.0"
    assert not [e for e in events if e["log_level"].name == "warn"]
    assert [e for e in events if e.get("scheme") == "wss"]
    api.sessions.stop()
    api._notifier.stop()


def test_a_reload_changes_who_may_read_metrics_and_back(build, write_config):
    api = build({"host": "127.0.0.1", "port": 0})
    assert api.site.metrics_access.authenticator is None
    api.reconfigService(load_config(write_config({"server": {"host": "127.0.0.1", "port": 0,
                                                             "metrics_access": "authenticated"}})))
    assert api.site.metrics_access.authenticator is not None
    assert api.site.resource.children[b"metrics"] is api.site.metrics_access
    api.reconfigService(load_config(write_config({"server": {"host": "127.0.0.1", "port": 0}})))
    assert api.site.metrics_access.authenticator is None
