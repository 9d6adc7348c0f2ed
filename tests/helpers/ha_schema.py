"""Home Assistant's MQTT discovery schema, as a table: for each entity kind
camservice publishes, the keys HA requires and the type of every key it
accepts, and :func:`check_config` that holds a payload against it.

HA drops keys it does not know without a word (its discovery schemas are
built with ``extra=REMOVE_EXTRA``), so a misspelt key would pass HA and do
nothing; the table therefore also refuses keys it does not list.

Sources (HA's documentation, "Configuration Variables" of each page):
- discovery topics, birth message, device and origin mappings, availability:
  https://www.home-assistant.io/integrations/mqtt/
- camera: https://www.home-assistant.io/integrations/camera.mqtt/
- binary sensor: https://www.home-assistant.io/integrations/binary_sensor.mqtt/
- switch: https://www.home-assistant.io/integrations/switch.mqtt/
- button: https://www.home-assistant.io/integrations/button.mqtt/
and the voluptuous schemas behind them in home-assistant/core,
homeassistant/components/mqtt/: schemas.py (device, origin, availability),
camera.py (``topic`` required), binary_sensor.py (``state_topic`` required,
the read-only platform schema), switch.py (``command_topic`` required, the
read-write platform schema), button.py (``command_topic`` required).
"""
from __future__ import annotations

import re

__all__ = ["COMPONENTS", "DISCOVERY_TOPIC", "check_config", "check_topic"]

#: ``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config``; node
#: and object ids are ``[a-zA-Z0-9_-]+`` (HA's discovery.py TOPIC_MATCHER)
DISCOVERY_TOPIC = re.compile(
    r"^(?P<prefix>[^/#+]+)/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config$"
)

STR = (str,)
BOOL = (bool,)
INT = (int,)
STR_OR_NONE = (str, type(None))

#: the device mapping (schemas.py MQTT_ENTITY_DEVICE_INFO_SCHEMA): every
#: value a string except identifiers (a string or a list of them) and
#: connections (a list of [type, value] pairs); one of the two is required
DEVICE_KEYS = {
    "identifiers": (str, list),
    "connections": (list,),
    "manufacturer": STR,
    "model": STR,
    "model_id": STR,
    "name": STR,
    "hw_version": STR,
    "serial_number": STR,
    "sw_version": STR,
    "via_device": STR,
    "suggested_area": STR,
    "configuration_url": STR,
}

#: the origin mapping (schemas.py MQTT_ORIGIN_INFO_SCHEMA): name required
ORIGIN_KEYS = {"name": STR, "sw_version": STR, "support_url": STR}
ORIGIN_REQUIRED = {"name"}

#: one entry of the availability list (schemas.py
#: MQTT_AVAILABILITY_LIST_SCHEMA): topic required
AVAILABILITY_KEYS = {"topic": STR, "payload_available": STR, "payload_not_available": STR, "value_template": STR}
AVAILABILITY_MODES = {"all", "any", "latest"}
ENTITY_CATEGORIES = {"config", "diagnostic"}

#: options every MQTT entity accepts (the pages' shared variables)
COMMON_KEYS = {
    "name": STR_OR_NONE,
    "unique_id": STR,
    "object_id": STR,
    "default_entity_id": STR,
    "icon": STR,
    "entity_category": STR,
    "entity_picture": STR,
    "enabled_by_default": BOOL,
    "encoding": STR,
    "qos": INT,
    "availability": (list,),
    "availability_mode": STR,
    "availability_topic": STR,
    "availability_template": STR,
    "payload_available": STR,
    "payload_not_available": STR,
    "json_attributes_topic": STR,
    "json_attributes_template": STR,
    "device": (dict,),
    "origin": (dict,),
}

#: per component: the keys HA requires, and the types of its own keys
COMPONENTS = {
    "camera": {
        "required": {"topic"},
        "keys": {"topic": STR, "image_encoding": STR},
    },
    "binary_sensor": {
        "required": {"state_topic"},
        "keys": {
            "state_topic": STR,
            "device_class": STR_OR_NONE,
            "expire_after": INT,
            "force_update": BOOL,
            "off_delay": INT,
            "payload_on": STR,
            "payload_off": STR,
            "value_template": STR,
        },
    },
    "switch": {
        "required": {"command_topic"},
        "keys": {
            "command_topic": STR,
            "command_template": STR,
            "state_topic": STR,
            "device_class": STR_OR_NONE,
            "optimistic": BOOL,
            "payload_on": STR,
            "payload_off": STR,
            "state_on": STR,
            "state_off": STR,
            "retain": BOOL,
            "value_template": STR,
        },
    },
    "button": {
        "required": {"command_topic"},
        "keys": {
            "command_topic": STR,
            "command_template": STR,
            "device_class": STR_OR_NONE,
            "payload_press": STR,
            "retain": BOOL,
        },
    },
}

#: device classes HA documents for the kinds that take one
DEVICE_CLASSES = {
    "binary_sensor": {
        "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door",
        "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug",
        "power", "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update",
        "vibration", "window",
    },
    "switch": {"outlet", "switch"},
    "button": {"identify", "restart", "update"},
}

_MQTT_WILDCARD = re.compile(r"[#+]")


def _check_types(where: str, mapping: dict, keys: dict, errors: list) -> None:
    for key, value in mapping.items():
        if key not in keys:
            errors.append(f"{where}: key {key!r} is not in HA's schema")
        elif isinstance(value, bool) and bool not in keys[key]:
            errors.append(f"{where}: {key!r} must be {keys[key]}, got a bool")
        elif not isinstance(value, keys[key]):
            errors.append(f"{where}: {key!r} must be {keys[key]}, got {type(value).__name__}")


def _check_publish_topic(where: str, key: str, value, errors: list) -> None:
    if isinstance(value, str) and (not value or _MQTT_WILDCARD.search(value)):
        errors.append(f"{where}: {key!r} must be a topic without wildcards, got {value!r}")


def check_topic(topic: str) -> dict:
    """The parts of a discovery topic; raises AssertionError if it is not
    one HA would read."""
    match = DISCOVERY_TOPIC.match(topic)
    assert match, f"{topic!r} is not a discovery topic <prefix>/<component>/[<node_id>/]<object_id>/config"
    assert match["component"] in COMPONENTS, f"{topic!r}: component {match['component']!r} is not one we check"
    return match.groupdict()


def check_config(component: str, payload: dict) -> list[str]:
    """Every way ``payload`` breaks HA's schema for ``component``
    (empty when it is valid)."""
    spec = COMPONENTS[component]
    errors: list[str] = []
    if not isinstance(payload, dict):
        return [f"{component}: the payload must be a JSON object"]
    for key in sorted(spec["required"] - set(payload)):
        errors.append(f"{component}: required key {key!r} is missing")
    _check_types(component, payload, {**COMMON_KEYS, **spec["keys"]}, errors)
    for key in ("topic", "state_topic", "command_topic"):
        if key in payload:
            _check_publish_topic(component, key, payload[key], errors)
    device_class = payload.get("device_class")
    if isinstance(device_class, str) and device_class not in DEVICE_CLASSES.get(component, set()):
        errors.append(f"{component}: device_class {device_class!r} is not one HA documents")
    if "entity_category" in payload and payload["entity_category"] not in ENTITY_CATEGORIES:
        errors.append(f"{component}: entity_category must be one of {sorted(ENTITY_CATEGORIES)}")
    if "availability" in payload and "availability_topic" in payload:
        errors.append(f"{component}: availability and availability_topic must not be used together")
    if "availability_mode" in payload and payload["availability_mode"] not in AVAILABILITY_MODES:
        errors.append(f"{component}: availability_mode must be one of {sorted(AVAILABILITY_MODES)}")
    if "qos" in payload and payload["qos"] not in (0, 1, 2):
        errors.append(f"{component}: qos must be 0, 1 or 2")
    for i, entry in enumerate(payload.get("availability") or []):
        where = f"{component}.availability[{i}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be an object")
            continue
        if "topic" not in entry:
            errors.append(f"{where}: required key 'topic' is missing")
        _check_types(where, entry, AVAILABILITY_KEYS, errors)
    device = payload.get("device")
    if isinstance(device, dict):
        _check_types(f"{component}.device", device, DEVICE_KEYS, errors)
        if not device.get("identifiers") and not device.get("connections"):
            errors.append(f"{component}.device: needs identifiers or connections")
        identifiers = device.get("identifiers")
        if isinstance(identifiers, list) and not all(isinstance(i, str) for i in identifiers):
            errors.append(f"{component}.device: identifiers must be strings")
        if "unique_id" not in payload:
            errors.append(f"{component}: a device mapping only works with a unique_id")
    origin = payload.get("origin")
    if isinstance(origin, dict):
        _check_types(f"{component}.origin", origin, ORIGIN_KEYS, errors)
        for key in sorted(ORIGIN_REQUIRED - set(origin)):
            errors.append(f"{component}.origin: required key {key!r} is missing")
    return errors
