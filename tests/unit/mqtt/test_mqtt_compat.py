"""The paho-mqtt 1.6 / 2.x shim, with the paho this stack has installed
(2.x in .venv, Debian's 1.6.1 in .venv-debian) and with each version's
callback shapes."""
from __future__ import annotations

import paho.mqtt.client as mqtt

from camservice.mqtt import compat


def test_a_client_speaks_mqtt5_with_the_installed_paho():
    client = compat.make_client("camservice-test")
    assert client._protocol == mqtt.MQTTv5
    assert compat.paho_major() in (1, 2)
    if compat.paho_major() >= 2:
        assert client._callback_api_version == mqtt.CallbackAPIVersion.VERSION2


def test_disconnect_reason_in_both_shapes():
    # 1.6 under MQTT 5: (client, userdata, rc, properties)
    assert compat.disconnect_reason((7, None)) == 7
    # 2.x: (client, userdata, flags, reason_code, properties)
    assert compat.disconnect_reason(("flags", 16, None)) == 16
    assert compat.disconnect_reason(()) is None


def test_reason_values_of_objects_and_ints():
    from paho.mqtt import reasoncodes

    ReasonCodes = getattr(reasoncodes, "ReasonCode", None) or reasoncodes.ReasonCodes

    assert compat.reason_value(0) == 0
    assert compat.reason_value(None) == 0
    assert compat.reason_value(ReasonCodes(compat.PacketTypes.CONNACK, "Not authorized")) == 135
    assert compat.reason_value(mqtt.MQTT_ERR_NO_CONN) == 4
    assert compat.reason_value("odd") == -1


def test_publish_properties_carry_the_correlation_data():
    props = compat.publish_properties(b"\x00\x01", "application/json")
    assert props.CorrelationData == b"\x00\x01" and props.ContentType == "application/json"
    assert compat.publish_properties() is None


def test_paho_major_reads_versions():
    assert compat.paho_major("1.6.1") == 1
    assert compat.paho_major("2.1.0") == 2
    assert compat.paho_major("dev") == 0
