"""``take_snapshot`` and ``get_snapshot_url``: thin calls into the
snapshot service and the still-image tokens."""
from __future__ import annotations

from typing import Callable

from camservice.auth.roles import Role
from camservice.media.snapshots import SnapshotService
from camservice.media.still_tokens import StillTokens
from camservice.rpc.dispatcher import Call
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import CAMERA_ID, FILENAME
from camservice.timeutil import iso_timestamp

__all__ = ["SnapshotMethods", "still_path"]

_TAKE = object_schema({"device": CAMERA_ID, "filename": FILENAME}, ["device"])
_DEVICE = object_schema({"device": CAMERA_ID}, ["device"])


def still_path(camera_id: str) -> str:
    """Where the API port serves a camera's still image."""
    return f"/cameras/{camera_id}/snapshot.jpg"


class SnapshotMethods:
    """Snapshots on disk and still images by URL.

    :param snapshots: takes snapshots.
    :param streamable: ``streamable(camera_id, need_connected=False) ->
        Camera`` (raises for an unknown or unstreamable camera).
    :param tokens: mints still-image tokens.
    :param base_url: ``() -> str``, the API port's URL as clients reach it
        (``http://host:port``).
    """

    def __init__(self, snapshots: SnapshotService, streamable: Callable, tokens: StillTokens,
                 base_url: Callable[[], str]):
        self._snapshots = snapshots
        self._streamable = streamable
        self._tokens = tokens
        self._base_url = base_url

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("take_snapshot", self.take_snapshot, Role.operator, _TAKE, camera_param="device",
                       audit=("device", "filename"),
                       summary="Capture one JPEG of the camera into the snapshots folder; answers once it is on disk.",
                       example={"device": "camera1000", "filename": "front-door"}),
            MethodSpec("get_snapshot_url", self.get_snapshot_url, Role.viewer, _DEVICE, version="1.3",
                       camera_param="device",
                       summary="A short-lived signed URL of the camera's still image, for tools that take a URL.",
                       example={"device": "camera1000"}),
        ]

    async def take_snapshot(self, call: Call, params: dict) -> dict:
        return await self._snapshots.take(params["device"], params.get("filename"))

    def get_snapshot_url(self, call: Call, params: dict) -> dict:
        camera = self._streamable(params["device"], need_connected=False)
        token, expires = self._tokens.mint(camera.id)
        path = still_path(camera.id)
        return {
            "device": camera.id,
            "url": f"{self._base_url()}{path}?token={token}",
            "path": path,
            "expires_at": iso_timestamp(expires),
            "ttl": self._tokens.ttl,
        }
