"""The service's own view of its health, for ``get_status``,
``get_system_status`` and the ``/health`` endpoints."""
from __future__ import annotations

from camservice.cameras.model import CameraStatus
from camservice.cameras.registry import CameraRegistry
from camservice.service import Component, ComponentState

__all__ = ["COMPONENT_NAMES", "SystemStatus"]

#: The components ``get_status`` reports, in API.md's words.
COMPONENT_NAMES = ("websocket_server", "camera_monitor", "mediamtx")


class SystemStatus:
    """Aggregates component states and the camera table.

    :param clock: ``IReactorTime`` (POSIX seconds), for uptime.
    :param registry: the camera table.
    :param discovery_active: says whether cameras are being discovered
        right now (automatic scans for network streams).
    """

    def __init__(self, clock, registry: CameraRegistry, discovery_active=lambda: False):
        self._clock = clock
        self._registry = registry
        self._discovery_active = discovery_active
        self._components: dict[str, Component] = {}
        self._started_at = clock.seconds()
        #: the MQTT bridge (``health() -> (good, body)``), or ``None``
        self.mqtt = None

    def add_component(self, name: str, component: Component) -> None:
        """Report ``component`` as ``name`` (one of :data:`COMPONENT_NAMES`)."""
        if name not in COMPONENT_NAMES:
            raise ValueError(f"unknown component {name!r}")
        self._components[name] = component

    @property
    def uptime(self) -> float:
        """Seconds since this object (the service tree) was built."""
        return self._clock.seconds() - self._started_at

    @property
    def discovery_active(self) -> bool:
        """Whether cameras are being discovered automatically."""
        return bool(self._discovery_active())

    def components(self) -> dict[str, str]:
        """Each component's state; one that is not part of this service
        (not configured) is ``STOPPED``."""
        return {
            name: (self._components[name].state.value if name in self._components else ComponentState.STOPPED.value)
            for name in COMPONENT_NAMES
        }

    def _present_states(self) -> list[ComponentState]:
        return [c.state for c in self._components.values()]

    def overall(self) -> str:
        """``HEALTHY``, ``DEGRADED`` or ``UNHEALTHY`` (API.md ``get_status``).

        UNHEALTHY when the API itself is not running; DEGRADED when another
        component is not running or a camera is in ERROR.
        """
        api = self._components.get("websocket_server")
        if api is None or api.state is not ComponentState.RUNNING:
            return "UNHEALTHY"
        if any(s is not ComponentState.RUNNING for s in self._present_states()) or self.camera_errors():
            return "DEGRADED"
        return "HEALTHY"

    def is_ready(self) -> bool:
        """Every component running: the service can do all it offers."""
        states = self._present_states()
        return bool(states) and all(s is ComponentState.RUNNING for s in states)

    def camera_errors(self) -> list[str]:
        return [c.id for c in self._registry.cameras() if c.status is CameraStatus.ERROR]

    def system_status(self) -> dict:
        """``get_system_status``: ``starting``, ``partial`` or ``ready``."""
        states = self._present_states()
        available = [c.id for c in self._registry.cameras() if c.status is CameraStatus.CONNECTED]
        errors = self.camera_errors()
        if not states or any(s is ComponentState.STARTING for s in states) or not self._registry.running:
            status, message = "starting", "the service is starting"
        elif not self.is_ready() or errors:
            down = [n for n, c in self._components.items() if c.state is not ComponentState.RUNNING]
            parts = []
            if down:
                parts.append("not running: " + ", ".join(sorted(down)))
            if errors:
                parts.append("cameras in error: " + ", ".join(errors))
            status, message = "partial", "; ".join(parts)
        else:
            status, message = "ready", f"{len(available)} camera(s) available"
        return {
            "status": status,
            "message": message,
            "available_cameras": available,
            "discovery_active": self.discovery_active,
        }

    def cameras_health(self) -> tuple[bool, dict]:
        """``/health/cameras``: good when the camera table is running and
        no camera is in ERROR."""
        cameras = self._registry.cameras()
        errors = self.camera_errors()
        good = self._registry.state is ComponentState.RUNNING and not errors
        return good, {
            "status": "ok" if good else "error",
            "total": len(cameras),
            "connected": sum(1 for c in cameras if c.status is CameraStatus.CONNECTED),
            "errors": errors,
            "cameras": {c.id: c.status.value for c in cameras},
        }

    def mediamtx_health(self) -> tuple[bool, dict]:
        """``/health/mediamtx``: good when MediaMTX answers its health
        checks and the paths are in place."""
        controller = self._components.get("mediamtx")
        if controller is None:
            return False, {"status": "not_configured"}
        good = controller.health.value == "up"
        return good, {
            "status": controller.health.value,
            "detail": controller.detail,
            "breaker": controller.breaker.state.value,
            "version": controller.mediamtx_version,
        }

    def mqtt_health(self) -> tuple[bool, dict]:
        """``/health/mqtt``: good when the bridge is connected or disabled
        (the broker being away never makes the service unready)."""
        if self.mqtt is None:
            return True, {"status": "disabled"}
        return self.mqtt.health()
