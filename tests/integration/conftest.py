"""Integration fixtures: a live service on 127.0.0.1 with a free port."""
from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor

from camservice.config import load_config
from helpers.live import start_live
from helpers.processes import media_ports


@pytest.fixture
def service_settings():
    """Config overrides for the ``live`` fixture; override per module."""
    return {}


@pytest.fixture
def live(write_config, service_settings):
    """A running service with one virtual camera; stopped after the test."""
    ports, auth_port = media_ports()
    document = {
        "server": {"port": 0, "shutdown_timeout": 5, "auto_ping_interval": 0, "max_connections_per_address": 1000},
        "logging": {"level": "info", "format": "json"},
        "discovery": {"mode": "disabled"},  # hermetic: never the machine's own cameras
        "mediamtx": dict(ports, health_check_interval=0.5, restart_min_delay=0.5, log_level="warn"),
        "cameras": {"declared": [{"id": "camera1000", "kind": "virtual", "name": "Pattern", "resolution": "320x240", "fps": 10}]},
        "streams": {"auth_port": auth_port},
    }
    for section, values in service_settings.items():
        if isinstance(values, dict):
            document.setdefault(section, {}).update(values)
        else:
            document[section] = values
    config = load_config(write_config(document))
    service = start_live(config, reactor)
    try:
        pytest_twisted.blockon(service.wait_mediamtx_up())
        yield service
    finally:
        pytest_twisted.blockon(service.tree.stopService())
