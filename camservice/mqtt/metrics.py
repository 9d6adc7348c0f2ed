"""The bridge's Prometheus metrics, on the service's registry."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["MqttMetrics", "STATES"]

#: the bridge's states, as health and ``camservice_mqtt_state`` show them
STATES = ("disabled", "connecting", "connected")


class MqttMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.state = Gauge(
            "camservice_mqtt_state",
            "The MQTT bridge's state: 1 for the current one (disabled, connecting, connected).",
            ["state"],
            registry=registry,
        )
        self.published = Counter(
            "camservice_mqtt_messages_published",
            "MQTT messages handed to the broker connection, by kind (retained, event, rpc, homeassistant).",
            ["kind"],
            registry=registry,
        )
        self.reconnects = Counter(
            "camservice_mqtt_connection_attempts",
            "Attempts to connect to the MQTT broker (the first one and every reconnection).",
            registry=registry,
        )
        self.rpc = Counter(
            "camservice_mqtt_rpc_requests",
            "JSON-RPC requests received over MQTT, by outcome (answered, no_response_topic, bad_response_topic, "
            "too_large, busy).",
            ["outcome"],
            registry=registry,
        )
        self.set_state("disabled")

    def set_state(self, state: str) -> None:
        for name in STATES:
            self.state.labels(name).set(1 if name == state else 0)
