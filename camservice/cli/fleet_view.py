"""The fleet as the broker's retained topics describe it: each node's
availability and the last state of each of its cameras.

Fed message by message (``<prefix>/<node>/availability``: ``online`` or
``offline``; ``<prefix>/<node>/cameras/<id>/state``: the API's Camera
object as JSON, an empty payload meaning the camera is gone); later
messages replace earlier ones."""
from __future__ import annotations

import json
import re
from typing import Optional

__all__ = ["FleetView", "camera_order"]

_CAMERA = re.compile(r"camera([0-9]+)")


def camera_order(camera_id: str):
    match = _CAMERA.fullmatch(camera_id)
    return (0, int(match.group(1)), "") if match else (1, 0, camera_id)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


class FleetView:
    def __init__(self, prefix: str):
        self.prefix = prefix.strip("/")
        #: node -> availability text ("online", "offline")
        self.availability: dict[str, str] = {}
        #: node -> camera id -> Camera object
        self.cameras: dict[str, dict[str, dict]] = {}
        self.warnings: list[str] = []

    def apply(self, topic: str, payload: bytes) -> None:
        """Take one message; a malformed one becomes a warning."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return
        parts = topic[len(head):].split("/")
        if len(parts) == 2 and parts[1] == "availability" and parts[0]:
            self._availability(parts[0], payload)
        elif len(parts) == 4 and parts[1] == "cameras" and parts[3] == "state" and parts[0] and parts[2]:
            self._state(parts[0], parts[2], payload, topic)

    def _availability(self, node: str, payload: bytes) -> None:
        if not payload:
            self.availability.pop(node, None)
            return
        self.availability[node] = _printable(payload.decode("utf-8", "replace").strip())

    def _state(self, node: str, camera_id: str, payload: bytes, topic: str) -> None:
        cameras = self.cameras.setdefault(node, {})
        if not payload:
            cameras.pop(camera_id, None)
            if not cameras:
                del self.cameras[node]
            return
        try:
            state = json.loads(payload)
        except ValueError:
            self.warnings.append(f"{_printable(topic)}: not JSON, left out")
            return
        if not isinstance(state, dict):
            self.warnings.append(f"{_printable(topic)}: not a JSON object, left out")
            return
        state.setdefault("device", camera_id)
        cameras[camera_id] = state

    def nodes(self) -> list[str]:
        return sorted(set(self.availability) | set(self.cameras))

    def node_availability(self, node: str) -> str:
        return self.availability.get(node, "unknown")

    def document(self, broker: Optional[str] = None) -> dict:
        """What ``camctl fleet --json`` prints."""
        nodes = []
        for node in self.nodes():
            cameras = self.cameras.get(node, {})
            nodes.append({
                "node": node,
                "availability": self.node_availability(node),
                "cameras": [cameras[c] for c in sorted(cameras, key=camera_order)],
            })
        return {
            "broker": broker,
            "prefix": self.prefix,
            "nodes": nodes,
            "total_nodes": len(nodes),
            "total_cameras": sum(len(n["cameras"]) for n in nodes),
            "warnings": list(self.warnings),
        }

    def rows(self) -> list[tuple]:
        """Table rows: node, availability, camera, status, name, resolution."""
        rows = []
        for entry in self.document()["nodes"]:
            if not entry["cameras"]:
                rows.append((entry["node"], entry["availability"], None, None, None, None))
            for c in entry["cameras"]:
                rows.append((entry["node"], entry["availability"], c.get("device"), c.get("status"),
                             c.get("name"), c.get("resolution")))
        return rows
