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


class FakeMonitor:
    """A stand-in for ``pyudev.Monitor`` as ``UdevWatcher`` uses it:
    ``fileno``, ``filter_by``, ``set_receive_buffer_size``, ``start`` and
    ``poll(timeout=0)``, which hands out the queued devices one by one,
    then ``None`` (nothing pending), or raises :attr:`error` if set (a
    broken netlink socket)."""

    def __init__(self, fd: int = 42):
        self.fd = fd
        self.queue: list[FakeDevice] = []
        self.filters: list = []
        self.started = False
        self.polls = 0
        self.error: Exception | None = None
        #: what ``set_receive_buffer_size`` raises (no CAP_NET_ADMIN)
        self.buffer_error: Exception | None = None

    def fileno(self) -> int:
        return self.fd

    def filter_by(self, subsystem, device_type=None) -> None:
        self.filters.append(subsystem)

    def set_receive_buffer_size(self, size: int) -> None:
        if self.buffer_error is not None:
            raise self.buffer_error

    def start(self) -> None:
        self.started = True

    def poll(self, timeout=None):
        self.polls += 1
        if self.error is not None:
            raise self.error
        return self.queue.pop(0) if self.queue else None

    def emit(self, device: FakeDevice, action: str) -> None:
        """Queue a uevent for ``device``."""
        self.queue.append(FakeDevice(device.sys_path, device.device_node, dict(device.properties),
                                     dict(device.attributes), action))


class FakeNetlink:
    """Stands in for ``pyudev.Monitor.from_netlink`` (a test patches it
    in): each call opens a new :class:`FakeMonitor`, or raises ``OSError``
    while :attr:`broken` (no netlink socket to be had)."""

    def __init__(self):
        self.opened: list[FakeMonitor] = []
        self.attempts = 0
        self.broken = False

    def __call__(self, context, source="udev"):
        self.attempts += 1
        if self.broken:
            import errno

            raise OSError(errno.EMFILE, "Too many open files")
        monitor = FakeMonitor(fd=40 + len(self.opened))
        self.opened.append(monitor)
        return monitor

    @property
    def current(self) -> FakeMonitor:
        """The monitor opened last."""
        return self.opened[-1]
