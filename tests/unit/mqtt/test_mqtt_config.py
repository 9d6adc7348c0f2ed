"""The ``mqtt`` section: off by default, turned on from the environment,
paths resolved against the file, bad values refused by name."""
from __future__ import annotations

import pytest

from camservice.config import ConfigError, load_config


def test_off_by_default_with_the_documented_defaults(write_config):
    mqtt = load_config(write_config({})).mqtt
    assert mqtt.enabled is False
    assert (mqtt.host, mqtt.port, mqtt.node_id, mqtt.topic_prefix, mqtt.qos) == ("127.0.0.1", 1883, None, "camservice", 1)
    assert mqtt.homeassistant.enabled is True and mqtt.homeassistant.discovery_prefix == "homeassistant"
    assert mqtt.reconnect.initial_delay < mqtt.reconnect.max_delay


def test_three_environment_variables_turn_it_on(write_config):
    env = {"CAMSERVICE_MQTT__ENABLED": "true", "CAMSERVICE_MQTT__HOST": "127.0.0.1", "CAMSERVICE_MQTT__PORT": "1883"}
    mqtt = load_config(write_config({}), environ=env).mqtt
    assert (mqtt.enabled, mqtt.host, mqtt.port) == (True, "127.0.0.1", 1883)


def test_files_are_resolved_against_the_config_file(write_config, tmp_path):
    path = write_config({"mqtt": {"password_file": "secret/pw", "tls": {"enabled": True, "ca_file": "ca.pem"}}})
    mqtt = load_config(path).mqtt
    assert mqtt.password_file == tmp_path / "secret" / "pw"
    assert mqtt.tls.ca_file == tmp_path / "ca.pem" and mqtt.tls.cert_file is None


@pytest.mark.parametrize("section, key", [
    ({"node_id": "a/b"}, "mqtt.node_id"),
    ({"node_id": "#"}, "mqtt.node_id"),
    ({"topic_prefix": "a/+/b"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "/lead"}, "mqtt.topic_prefix"),
    ({"qos": 3}, "mqtt.qos"),
    ({"port": 0}, "mqtt.port"),
    ({"homeassistant": {"discovery_prefix": "ha#"}}, "mqtt.homeassistant.discovery_prefix"),
])
def test_values_that_would_break_topics_are_refused_by_name(write_config, section, key):
    with pytest.raises(ConfigError) as e:
        load_config(write_config({"mqtt": section}))
    assert key in str(e.value)


def test_the_bridges_metrics_and_health_are_documented():
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from camservice.mqtt.metrics import MqttMetrics

    text = (Path(__file__).resolve().parents[3] / "docs" / "api.rst").read_text("utf-8")
    registry = CollectorRegistry()
    MqttMetrics(registry)
    for family in registry.collect():
        exposed = family.name + ("_total" if family.type == "counter" else "")
        assert f"``{exposed}``" in text, f"docs/api.rst does not list the metric {exposed}"
    assert "``/health/mqtt``" in text
