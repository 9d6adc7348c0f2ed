"""The camera table: every camera the service knows, and its changes.

Sources (configuration now; udev and network streams later) call
:meth:`CameraRegistry.add`, :meth:`~CameraRegistry.update` and
:meth:`~CameraRegistry.remove`; each real change is published on the event
bus as ``camera.connected``, ``camera.disconnected`` or
``camera.status_change``.
"""
from __future__ import annotations

from typing import Optional

from twisted.logger import Logger

from camservice.cameras.declared import camera_from_declaration
from camservice.cameras.errors import CameraLimitReached, UnknownCamera
from camservice.cameras.model import Camera, CameraStatus, camera_number
from camservice.config.model import CamerasConfig
from camservice.events import EventBus
from camservice.service import Component

__all__ = ["CameraRegistry"]


def _topic_for(old: Optional[Camera], new: Camera) -> str:
    if new.status is not (old.status if old else None):
        if new.status is CameraStatus.CONNECTED:
            return "camera.connected"
        if new.status is CameraStatus.DISCONNECTED:
            return "camera.disconnected"
    return "camera.status_change"


class CameraRegistry(Component):
    """The ``cameras`` service: the in-memory camera table.

    :param config: the ``cameras`` section.
    :param bus: where changes are published.
    :param clock: ``IReactorTime`` (POSIX seconds), to stamp connections.
    """

    log = Logger()

    def __init__(self, config: CamerasConfig, bus: EventBus, clock):
        super().__init__()
        self._config = config
        self._bus = bus
        self._clock = clock
        self._cameras: dict[str, Camera] = {}
        self._sorted: Optional[list[Camera]] = None

    @property
    def max_cameras(self) -> int:
        return self._config.max_cameras

    #: A reload adds, removes and changes declared cameras (clients hear of
    #: each as usual; MediaMTX's paths follow) and takes a new table size.
    reloadable_keys = ("cameras.declared", "cameras.max_cameras")

    def checkConfig(self, new) -> None:
        """Refuse a table size the cameras would not fit in.

        :raises ConfigError: naming ``cameras.max_cameras``.
        """
        from camservice.config.errors import ConfigError, ConfigProblem

        old_ids = {d.id for d in self._config.declared}
        new_ids = {d.id for d in new.cameras.declared}
        count = len(set(self._cameras) - (old_ids - new_ids) | new_ids)
        if count > new.cameras.max_cameras:
            raise ConfigError([ConfigProblem(
                "cameras.max_cameras", f"is less than the {count} cameras the table would hold",
                new.cameras.max_cameras,
            )])

    def reconfigService(self, new) -> None:
        """Take the declared cameras of ``new``: removed ones leave the
        table, new and changed ones are (re)entered."""
        section = new.cameras
        if (section.declared, section.max_cameras) == (self._config.declared, self._config.max_cameras):
            self._config = section
            return None
        old = {d.id: d for d in self._config.declared}
        wanted = {d.id: d for d in section.declared}
        self._config = section
        if not self.running:
            return None
        for camera_id in old.keys() - wanted.keys():
            if camera_id in self._cameras:
                self.remove(camera_id)
        for camera_id, declared in wanted.items():
            if old.get(camera_id) != declared or camera_id not in self._cameras:
                self.add(camera_from_declaration(declared))
        return None

    def start(self) -> None:
        for declared in self._config.declared:
            self.add(camera_from_declaration(declared))

    def stop(self) -> None:
        self._cameras.clear()
        self._sorted = None

    def cameras(self) -> list[Camera]:
        """All cameras, by id number (a new list; the cameras are shared)."""
        if self._sorted is None:
            self._sorted = sorted(self._cameras.values(), key=lambda c: camera_number(c.id))
        return list(self._sorted)

    def get(self, camera_id: str) -> Camera:
        """The camera ``camera_id``.

        :raises UnknownCamera: no such camera.
        """
        try:
            return self._cameras[camera_id]
        except KeyError:
            raise UnknownCamera(camera_id) from None

    def __contains__(self, camera_id: str) -> bool:
        return camera_id in self._cameras

    def add(self, camera: Camera) -> Camera:
        """Put a new camera in the table (or replace one with the same id).

        :raises CameraLimitReached: the table is full.
        """
        old = self._cameras.get(camera.id)
        if old is None and len(self._cameras) >= self._config.max_cameras:
            raise CameraLimitReached(camera.id)
        return self._store(old, camera)

    def update(self, camera_id: str, **changes) -> Camera:
        """Change fields of a camera; publishes only if something changed.

        :raises UnknownCamera: no such camera.
        """
        old = self.get(camera_id)
        return self._store(old, old.replace(**changes))

    def remove(self, camera_id: str) -> Camera:
        """Take a camera out of the table (published as disconnected).

        :returns: the camera as last known, marked ``DISCONNECTED``.
        :raises UnknownCamera: no such camera.
        """
        old = self.get(camera_id)
        del self._cameras[camera_id]
        self._sorted = None
        gone = old.replace(status=CameraStatus.DISCONNECTED)
        self.log.info("camera {camera_id} removed", camera_id=camera_id)
        self._bus.publish("camera.disconnected", camera_id, gone)
        return gone

    def _store(self, old: Optional[Camera], new: Camera) -> Camera:
        if old == new:
            return new
        if new.status is CameraStatus.CONNECTED and (old is None or old.status is not CameraStatus.CONNECTED):
            new = new.replace(connected_at=self._clock.seconds())
        elif new.status is CameraStatus.CONNECTED and new.connected_at is None:
            new = new.replace(connected_at=old.connected_at)  # re-probed, still connected
        self._cameras[new.id] = new
        self._sorted = None
        topic = _topic_for(old, new)
        self.log.info(
            "camera {camera_id} {topic}: {status}",
            camera_id=new.id,
            topic=topic,
            status=new.status.value,
        )
        self._bus.publish(topic, new.id, new)
        return new
