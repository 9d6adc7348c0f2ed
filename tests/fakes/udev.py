"""A stand-in for ``pyudev.Context`` in unit tests: ``list_devices``
returns the devices a test put there (objects shaped like pyudev's)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeDevice:
    sys_path: str
    device_node: str
    properties: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    action: str = "add"


class FakeUdevContext:
    def __init__(self):
        self.devices: list[FakeDevice] = []

    def list_devices(self, subsystem=None):
        return list(self.devices)

    def plug(self, number: int, capture: bool = True, serial: str = "", id_path: str = "", name: str = "Webcam"):
        device = FakeDevice(
            sys_path=f"/sys/devices/fake/video4linux/video{number}",
            device_node=f"/dev/video{number}",
            properties={"DEVNAME": f"/dev/video{number}",
                        "ID_V4L_CAPABILITIES": ":capture:" if capture else ":",
                        "ID_SERIAL": serial, "ID_PATH": id_path,
                        "ID_VENDOR_ID": "046d", "ID_MODEL_ID": "082d"},
            attributes={"name": name.encode()},
        )
        self.devices.append(device)
        return device

    def unplug(self, number: int):
        self.devices = [d for d in self.devices if d.device_node != f"/dev/video{number}"]
