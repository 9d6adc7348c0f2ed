"""A V4L2 device node as discovery sees it, and its stable identity."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from camservice.config.model import DeviceMatch, DeviceSettings

__all__ = ["DeviceInfo", "find_settings", "info_from_udev", "is_ignored"]

_NODE = re.compile(r"^/dev/video(\d+)$")


@dataclass(frozen=True)
class DeviceInfo:
    """One ``/dev/videoN`` node.

    :ivar capabilities: udev's ``ID_V4L_CAPABILITIES`` (e.g. ``:capture:``)
        or ``None`` when udev has no record of it (polling without udev).
    :ivar serial, id_path, vendor_id, product_id: the stable identity.
    """

    node: str
    syspath: str
    name: str = ""
    capabilities: Optional[str] = None
    serial: Optional[str] = None
    id_path: Optional[str] = None
    vendor_id: Optional[str] = None
    product_id: Optional[str] = None

    @property
    def number(self) -> int:
        return int(_NODE.match(self.node).group(1))

    @property
    def camera_id(self) -> str:
        """``cameraN`` for ``/dev/videoN`` (API.md)."""
        return f"camera{self.number}"

    @property
    def may_capture(self) -> bool:
        """False only when udev says the node cannot capture (a metadata
        node); unknown capabilities are left to the probe."""
        return self.capabilities is None or "capture" in self.capabilities.split(":")

    def identity(self) -> dict:
        return {"serial": self.serial, "id_path": self.id_path,
                "vendor_id": self.vendor_id, "product_id": self.product_id}


def _first(props: Mapping[str, str], *names: str) -> Optional[str]:
    for name in names:
        value = props.get(name)
        if value:
            return value
    return None


def info_from_udev(device) -> Optional[DeviceInfo]:
    """A :class:`DeviceInfo` from a ``pyudev.Device``, or ``None`` if it is
    not a ``/dev/videoN`` node."""
    node = device.device_node or device.properties.get("DEVNAME")
    if not node or not _NODE.match(node):
        return None
    props = device.properties
    try:
        name = (device.attributes.get("name") or b"").decode("utf-8", "replace").strip()
    except (AttributeError, KeyError, OSError):
        name = ""
    return DeviceInfo(
        node=node,
        syspath=device.sys_path,
        name=name,
        capabilities=props.get("ID_V4L_CAPABILITIES"),
        serial=_first(props, "ID_SERIAL", "ID_SERIAL_SHORT"),
        id_path=props.get("ID_PATH"),
        vendor_id=_first(props, "ID_VENDOR_ID", "ID_USB_VENDOR_ID"),
        product_id=_first(props, "ID_MODEL_ID", "ID_USB_MODEL_ID"),
    )


def _matches(match: DeviceMatch, info: DeviceInfo) -> bool:
    wanted = {k: v for k, v in vars(match).items() if v is not None}
    have = info.identity()
    return bool(wanted) and all(
        (have.get(k) or "").lower() == v.lower() if k.endswith("_id") else have.get(k) == v
        for k, v in wanted.items()
    )


def find_settings(settings: Iterable[DeviceSettings], info: DeviceInfo) -> Optional[DeviceSettings]:
    """The first per-camera settings entry that matches ``info``."""
    for entry in settings:
        if _matches(entry.match, info):
            return entry
    return None


def is_ignored(ignore: Iterable[DeviceMatch], settings: Optional[DeviceSettings], info: DeviceInfo) -> bool:
    return any(_matches(m, info) for m in ignore) or bool(settings and settings.ignore)
