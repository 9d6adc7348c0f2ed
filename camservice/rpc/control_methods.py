"""Camera controls (API extension 1.1): ``get_camera_controls`` and
``set_camera_control`` for USB (V4L2) cameras."""
from __future__ import annotations

from camservice.auth.roles import Role
from camservice.cameras.model import CameraKind, CameraStatus
from camservice.cameras.monitor import CameraMonitor
from camservice.cameras.prober import ProbeFailed
from camservice.cameras.registry import CameraRegistry
from camservice.cameras.v4l2 import Control
from camservice.rpc.dispatcher import Call
from camservice.rpc.errors import DependencyFailed, InvalidParams, InvalidState, Unsupported
from camservice.rpc.methods import MethodSpec, object_schema
from camservice.rpc.params import CAMERA_ID

__all__ = ["ControlMethods", "check_value"]

EXTENSION_VERSION = "1.1"
_SETTABLE = ("int", "int64", "bool", "menu", "intmenu", "button", "bitmask")


def check_value(control: Control, value: int) -> None:
    """Refuse a value the control cannot take.

    :raises InvalidParams: out of range, off the step, not a menu entry.
    :raises InvalidState: the control is read-only or inactive now.
    """
    if control.type not in _SETTABLE:
        raise InvalidParams(param="name", rule=f"a {control.type} control cannot be set here",
                            reason="unsupported control type", hint="choose an integer, boolean or menu control")
    if "read-only" in control.flags or "inactive" in control.flags:
        state = "read-only" if "read-only" in control.flags else "inactive"
        raise InvalidState(state=f"control_{state.replace('-', '_')}", allowed_states=["active"],
                           reason=f"{control.name} is {state} now"
                           + (" (another control, e.g. an automatic mode, decides it)" if state == "inactive" else ""))
    if control.type == "bool":
        allowed_min, allowed_max, step = 0, 1, 1
    else:
        allowed_min, allowed_max, step = control.minimum, control.maximum, control.step or 1
    if allowed_min is not None and value < allowed_min or allowed_max is not None and value > allowed_max:
        raise InvalidParams(param="value", rule=f"must be between {allowed_min} and {allowed_max}",
                            reason="value out of range", hint=f"{control.name} takes {allowed_min}..{allowed_max}")
    if control.type in ("menu", "intmenu") and control.menu and value not in {k for k, _ in control.menu}:
        choices = ", ".join(f"{k} ({label})" for k, label in control.menu)
        raise InvalidParams(param="value", rule=f"must be one of: {choices}", reason="not a menu entry",
                            hint=f"{control.name} is a menu")
    if control.type in ("int", "int64") and allowed_min is not None and (value - allowed_min) % step:
        raise InvalidParams(param="value", rule=f"must be {allowed_min} plus a multiple of {step}",
                            reason="value off the control's step", hint=f"{control.name} moves in steps of {step}")


class ControlMethods:
    """V4L2 controls of USB cameras (brightness, exposure, focus, ...)."""

    def __init__(self, registry: CameraRegistry, monitor: CameraMonitor):
        self._registry = registry
        self._monitor = monitor

    def specs(self) -> list[MethodSpec]:
        return [
            MethodSpec("get_camera_controls", self.get_camera_controls, Role.viewer,
                       object_schema({"device": CAMERA_ID}, ["device"]), version=EXTENSION_VERSION,
                       camera_param="device", example={"device": "camera0"},
                       summary="Extension: a USB camera's V4L2 controls with range, step, default and value."),
            MethodSpec("set_camera_control", self.set_camera_control, Role.operator,
                       object_schema({"device": CAMERA_ID,
                                      "name": {"type": "string", "maxLength": 64, "pattern": "^[a-z0-9_]{1,64}$"},
                                      "value": {"type": ["integer", "boolean"]}},
                                     ["device", "name", "value"]),
                       version=EXTENSION_VERSION, camera_param="device", audit=("device", "name", "value"),
                       example={"device": "camera0", "name": "brightness", "value": 128},
                       summary="Extension: set one V4L2 control, checked against its probed range."),
        ]

    def _node(self, camera_id: str) -> str:
        camera = self._registry.get(camera_id)
        if camera.kind is not CameraKind.USB:
            raise Unsupported(feature="camera_controls", reason=f"{camera.kind.value} cameras have no V4L2 controls")
        node = self._monitor.node_of(camera.id)
        if camera.status is not CameraStatus.CONNECTED or node is None:
            raise InvalidState(state=f"camera_{camera.status.value.lower()}", allowed_states=["CONNECTED"],
                               reason="the camera is not connected")
        return node

    async def _controls(self, node: str) -> tuple[Control, ...]:
        try:
            return await self._monitor.prober.controls(node)
        except ProbeFailed as e:
            raise DependencyFailed(dependency="v4l2-ctl", detail=str(e), reason="the camera did not answer")

    async def get_camera_controls(self, call: Call, params: dict) -> dict:
        node = self._node(params["device"])
        controls = await self._controls(node)
        return {"device": params["device"], "controls": [c.as_dict() for c in controls]}

    async def set_camera_control(self, call: Call, params: dict) -> dict:
        node = self._node(params["device"])
        name, value = params["name"], int(params["value"])
        controls = {c.name: c for c in await self._controls(node)}
        if name not in controls:
            raise InvalidParams(param="name", rule="must be one of: " + ", ".join(sorted(controls)),
                                reason="no such control", hint="get_camera_controls lists them")
        control = controls[name]
        check_value(control, value)
        try:
            await self._monitor.prober.set_control(node, name, value)
        except ProbeFailed as e:
            raise DependencyFailed(dependency="v4l2-ctl", detail=str(e), reason="the camera refused the value")
        after = {c.name: c for c in await self._controls(node)}.get(name, control)
        return {"device": params["device"], "name": name, "value": after.value, "previous": control.value}
