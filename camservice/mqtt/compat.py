"""The one place that knows paho-mqtt 1.6 (Debian 12) from 2.x (PyPI).

Everything else in :mod:`camservice.mqtt` calls these functions and never
looks at paho's version. The differences they hide:

- 2.x wants a ``CallbackAPIVersion`` first when building a client (1.6 has
  no such argument); we ask for ``VERSION2``.
- ``on_disconnect`` gets ``(client, userdata, rc, properties)`` from 1.6
  under MQTT 5 and ``(client, userdata, flags, reason_code, properties)``
  from 2.x.
- reason codes are ``ReasonCodes`` (1.6) or ``ReasonCode`` (2.x) objects,
  or plain ints for some local errors; :func:`reason_value` reads any.
"""
from __future__ import annotations

from typing import Any, Optional

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

__all__ = [
    "PAHO_VERSION",
    "PacketTypes",
    "Properties",
    "disconnect_reason",
    "make_client",
    "paho_major",
    "publish_properties",
    "reason_value",
    "subscribe_options",
]

PAHO_VERSION: str = getattr(paho.mqtt, "__version__", "0")


def paho_major(version: str = PAHO_VERSION) -> int:
    """The major version of paho-mqtt (1 or 2)."""
    try:
        return int(version.split(".", 1)[0])
    except ValueError:
        return 0


def make_client(client_id: str, client_class: type = mqtt.Client) -> Any:
    """A paho client of ``client_class`` speaking MQTT 5 (no threads
    started: the caller drives its socket)."""
    kwargs: dict = {"client_id": client_id, "protocol": mqtt.MQTTv5}
    api = getattr(mqtt, "CallbackAPIVersion", None)
    if api is not None:
        kwargs["callback_api_version"] = api.VERSION2
    return client_class(**kwargs)


def disconnect_reason(args: tuple) -> Any:
    """The reason code among ``on_disconnect``'s arguments after
    ``(client, userdata)``."""
    if len(args) >= 3:  # 2.x: flags, reason_code, properties
        return args[1]
    return args[0] if args else None  # 1.6: rc[, properties]


def reason_value(rc: Any) -> int:
    """A reason code (object or int) as an int; 0 is success."""
    if rc is None:
        return 0
    value = getattr(rc, "value", rc)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def publish_properties(correlation_data: Optional[bytes] = None, content_type: Optional[str] = None) -> Optional[Properties]:
    """MQTT 5 PUBLISH properties, or ``None`` when there are none."""
    if correlation_data is None and content_type is None:
        return None
    props = Properties(PacketTypes.PUBLISH)
    if correlation_data is not None:
        props.CorrelationData = correlation_data
    if content_type is not None:
        props.ContentType = content_type
    return props


def subscribe_options(qos: int, no_local: bool = False) -> SubscribeOptions:
    """MQTT 5 subscription options (``no_local``: not our own messages)."""
    return SubscribeOptions(qos=qos, noLocal=no_local)
