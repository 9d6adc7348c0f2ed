"""USB cameras under umockdev: a testbed in the test process (seen by
libudev here and in child processes), webcams plugged and unplugged with
real uevents, and a replaying v4l2-ctl."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]


def umockdev_active() -> bool:
    """Whether this process runs under umockdev-wrapper (its preload)."""
    return "libumockdev-preload" in os.environ.get("LD_PRELOAD", "")


class FakeV4L2:
    """A folder with the replaying v4l2-ctl, its map and its state."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.executable = folder / "v4l2-ctl"
        shutil.copy(ROOT / "tests" / "helpers" / "fake_v4l2_ctl.py", self.executable)
        self.executable.chmod(0o755)
        data = folder / "v4l2"
        if not data.exists():
            shutil.copytree(ROOT / "tests" / "data" / "v4l2", data)
        self._map: dict[str, str] = {}
        self._write()

    def _write(self) -> None:
        (self.folder / "map.json").write_text(json.dumps(self._map))

    def set(self, node: str, recording: str) -> None:
        self._map[node] = recording
        self._write()

    def calls(self) -> list[str]:
        log = self.folder / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def control_values(self, node: str) -> dict:
        state = self.folder / "state.json"
        return json.loads(state.read_text()).get(node, {}) if state.exists() else {}


class Bed:
    """Plugs webcams into a umockdev testbed."""

    def __init__(self):
        import gi

        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev

        self.testbed = UMockdev.Testbed.new()
        self._nodes: dict[int, str] = {}
        self._parents: dict[int, str] = {}

    def add_webcam(self, number: int, serial: str = "", id_path: str = "", metadata: Optional[int] = None,
                   vendor: str = "046d", product: str = "082d") -> None:
        """A USB webcam: a capture node /dev/video<number> and, optionally,
        a metadata node. umockdev announces each added device with an
        "add" uevent, as the kernel would."""
        id_path = id_path or f"pci-0000:00:14.0-usb-0:{number + 1}:1.0"
        serial = serial or f"Webcam_{number:04d}"
        parent = self.testbed.add_device(
            "usb", f"usb-cam{number}", None,
            ["idVendor", vendor, "idProduct", product, "serial", serial],
            ["ID_SERIAL", serial, "ID_VENDOR_ID", vendor, "ID_MODEL_ID", product],
        )
        self._parents[number] = parent
        for node, caps in [(number, ":capture:")] + ([(metadata, ":")] if metadata is not None else []):
            syspath = self.testbed.add_device(
                "video4linux", f"video{node}", parent,
                ["name", f"Webcam {number}", "index", "0" if node == number else "1", "dev", f"81:{node}"],
                ["DEVNAME", f"/dev/video{node}", "ID_V4L_CAPABILITIES", caps, "ID_V4L_VERSION", "2",
                 "ID_SERIAL", serial, "ID_PATH", id_path, "ID_VENDOR_ID", vendor, "ID_MODEL_ID", product],
            )
            self._nodes[node] = syspath

    def plugged(self, number: int) -> bool:
        """Whether webcam ``number`` is plugged in."""
        return number in self._parents

    def remove(self, node: int, uevent: bool = True) -> None:
        syspath = self._nodes.pop(node)
        if uevent:
            self.testbed.uevent(syspath, "remove")
        self.testbed.remove_device(syspath)

    def unplug(self, number: int, uevent: bool = True) -> None:
        """Remove every node of webcam ``number``."""
        parent = self._parents.pop(number)
        for node, syspath in list(self._nodes.items()):
            if syspath.startswith(parent + "/"):
                self.remove(node, uevent)
        self.testbed.remove_device(parent)

    def close(self) -> None:
        for node in list(self._nodes):
            self.testbed.remove_device(self._nodes.pop(node))
        self.testbed = None
