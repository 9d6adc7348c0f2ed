"""The ``camera-monitor`` service: USB cameras as they come and go.

Two sources feed one reconciliation, keyed by device node, so a camera is
never reported twice or lost between them:

- udev events, read by the reactor from a netlink monitor (``udev`` and
  ``hybrid`` modes);
- scans of what libudev enumerates from sysfs: at start, on a timer
  (``poll`` mode, or slowly in ``hybrid`` mode as a safety net), and after
  the udev monitor had to be reopened.

A node that appears is reported at once: probed with ``v4l2-ctl``, kept only
if it can capture (a webcam's metadata node cannot), and added to the
camera table as ``cameraN`` (``/dev/videoN``), CONNECTED with its probed
modes, or in ERROR with the reason when the probe fails. A node that
disappears is removed after ``debounce`` seconds, unless it came back
meanwhile (a flap). Per-camera settings are matched by the camera's stable
identity and re-applied (controls included) on every plug.
"""
from __future__ import annotations

from typing import Callable, Optional

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from camservice.cameras.devices import DeviceInfo, find_settings, is_ignored
from camservice.cameras.errors import CameraLimitReached
from camservice.cameras.model import Camera, CameraKind, CameraStatus, ValidationStatus
from camservice.cameras.prober import ProbeFailed, V4L2Prober
from camservice.cameras.registry import CameraRegistry
from camservice.cameras.udev import UdevWatcher, enumerate_devices, udev_available
from camservice.cameras.v4l2 import Probe, best_mode
from camservice.config.model import CamerasConfig, DeviceSettings, DiscoveryConfig
from camservice.service import Component, ComponentState

__all__ = ["CameraMonitor"]


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


class CameraMonitor(Component):
    """Discovers USB cameras and keeps them in the camera table.

    :param context_factory: makes a ``pyudev.Context`` (tests may pass
        their own).
    :param has_udev: whether a udev daemon runs (default: ``/run/udev``
        exists); without one, udev modes fall back to polling.
    """

    log = Logger()

    def __init__(
        self,
        discovery: DiscoveryConfig,
        cameras: CamerasConfig,
        registry: CameraRegistry,
        prober: V4L2Prober,
        reactor,
        context_factory: Optional[Callable] = None,
        has_udev: Optional[Callable[[], bool]] = None,
    ):
        super().__init__()
        self.config = discovery
        self._settings = cameras.devices
        self._registry = registry
        self._prober = prober
        self._reactor = reactor
        self._context_factory = context_factory
        self._has_udev = has_udev or udev_available
        self._context = None
        self.watcher: Optional[UdevWatcher] = None
        self._loop: Optional[task.LoopingCall] = None
        self.mode_in_use: Optional[str] = None
        self._present: dict[str, DeviceInfo] = {}
        self._cameras: dict[str, str] = {}
        self._skipped: set[str] = set()
        self._removals: dict[str, object] = {}
        self._probes: dict[str, defer.Deferred] = {}
        self._limit = defer.DeferredSemaphore(4)
        self._settling = True

    # -- reload ----------------------------------------------------------

    #: What a reload takes, all of ``discovery`` and the per-camera device
    #: settings: scan intervals at once; the mode by stopping the old
    #: mechanism and starting the new one, the camera table kept (a scan
    #: right after reconciles it; turning discovery off forgets the
    #: cameras it found, as a start with it off would); the probe's
    #: program and timeout for the next probe; the udev monitor's reopen
    #: backoff at its next failure; device settings, limits, ignore rules
    #: and a new ``v4l2_ctl`` by probing the present devices again.
    reloadable_keys = ("discovery", "cameras.devices")

    def checkConfig(self, new) -> None:
        """Nothing to refuse beyond what the schema does."""

    def reconfigService(self, new) -> None:
        old, old_settings = self.config, self._settings
        section = new.discovery
        if (section, new.cameras.devices) == (old, old_settings):
            return None
        self.config, self._settings = section, new.cameras.devices
        configure = getattr(self._prober, "configure", None)
        if configure is not None and (old.v4l2_ctl, old.probe_timeout) != (section.v4l2_ctl, section.probe_timeout):
            configure(section.v4l2_ctl, section.probe_timeout)
        if self.watcher is not None:
            self.watcher.max_delay = section.reopen_max_delay
        if not self.running:
            return None
        if section.mode != old.mode:
            self.log.info("camera discovery switching from {old} to {new}", old=self.mode_in_use, new=section.mode)
            self._stop_discovery()
            if section.mode == "disabled":
                for node in list(self._present):
                    self._remove(node)
            self._start_discovery()
        else:
            interval = {"poll": section.poll_interval, "hybrid": section.safety_poll_interval}.get(self.mode_in_use)
            if self._loop is not None and interval is not None and interval != self._loop.interval:
                self._loop.stop()
                self._start_loop(interval)
        if (old.ignore, old.max_resolution, old.max_fps, old.v4l2_ctl, old_settings) != (
            section.ignore, section.max_resolution, section.max_fps, section.v4l2_ctl, new.cameras.devices
        ):
            for info in list(self._present.values()):
                if is_ignored(self.config.ignore, find_settings(self._settings, info), info):
                    self._forget(info.node)
                self._appeared(info, again=True)
        self.log.info("discovery settings updated")
        return None

    # -- lifecycle -------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether cameras are being discovered right now."""
        return self.running and (
            (self.watcher is not None and self.watcher.running) or (self._loop is not None and self._loop.running)
        )

    def started_state(self) -> ComponentState:
        return ComponentState.STARTING if self._settling else ComponentState.RUNNING

    def start(self) -> None:
        self._start_discovery()
        if self.mode_in_use == "disabled":
            self._settling = False
            return
        initial = list(self._probes.values())
        defer.DeferredList(initial).addBoth(self._settled)

    def _start_discovery(self) -> None:
        """Start the configured mechanism (udev, a scan loop, both, or
        nothing) and scan once."""
        mode = self.config.mode
        if mode == "disabled":
            self.mode_in_use = "disabled"
            self.log.info("USB camera discovery is off")
            return
        import pyudev

        if self._context is None:
            self._context = (self._context_factory or pyudev.Context)()
        if mode in ("udev", "hybrid"):
            if self._has_udev():
                self.watcher = UdevWatcher(
                    self._context, self._reactor, self._on_udev, self.rescan, self.config.reopen_max_delay
                )
                try:
                    self.watcher.start()
                except OSError as e:
                    self.log.warn("cannot open the udev monitor ({error}); polling instead", error=str(e))
                    self.watcher = None
            else:
                self.log.warn("no udev database (/run/udev); polling for cameras instead")
        if self.watcher is None:
            self.mode_in_use, interval = "poll", self.config.poll_interval
        elif mode == "hybrid":
            self.mode_in_use, interval = "hybrid", self.config.safety_poll_interval
        else:
            self.mode_in_use, interval = "udev", None
        self.rescan()
        if interval is not None:
            self._start_loop(interval)
        self.log.info("camera discovery running ({mode})", mode=self.mode_in_use)

    def _start_loop(self, interval: float) -> None:
        self._loop = task.LoopingCall(self.rescan)
        self._loop.clock = self._reactor
        self._loop.start(interval, now=False).addErrback(
            lambda f: self.log.failure("camera scan loop stopped", failure=f)
        )

    def _stop_discovery(self) -> None:
        """Stop watching (the camera table and pending removals stay)."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self.watcher is not None:
            self.watcher.stop()
        self.watcher = None

    def _settled(self, _) -> None:
        self._settling = False
        if self.running and self.state is ComponentState.STARTING:
            self.state = ComponentState.RUNNING

    def stop(self) -> None:
        self._stop_discovery()
        for call in self._removals.values():
            if call.active():
                call.cancel()
        self._removals.clear()
        for d in list(self._probes.values()):
            d.cancel()
        self._present.clear()
        self._cameras.clear()
        self._skipped.clear()

    # -- observations ----------------------------------------------------

    def _on_udev(self, action: str, info: DeviceInfo) -> None:
        if action == "remove":
            self._vanished(info.node)
        elif action in ("add", "change", "bind", "online"):
            self._appeared(info, again=action == "change")

    def rescan(self) -> None:
        """Compare what libudev enumerates with what is known."""
        try:
            snapshot = {info.node: info for info in enumerate_devices(self._context)}
        except OSError as e:
            self.log.error("cannot enumerate video devices: {error}", error=str(e))
            return
        for info in snapshot.values():
            self._appeared(info)
        for node in list(self._present):
            if node not in snapshot:
                self._vanished(node)

    def _appeared(self, info: DeviceInfo, again: bool = False) -> None:
        node = info.node
        removal = self._removals.pop(node, None)
        if removal is not None and removal.active():
            removal.cancel()  # it came back within the debounce: a flap
        old = self._present.get(node)
        known = node in self._cameras or node in self._skipped or node in self._probes
        if old is not None and known and not again and old == info:
            return  # seen before (by the other path, or a repeated event)
        self._present[node] = info
        if old is not None and old.identity() != info.identity() and node in self._cameras:
            self._forget(node)  # another device took the node
        self._skipped.discard(node)
        settings = find_settings(self._settings, info)
        if is_ignored(self.config.ignore, settings, info):
            self.log.info("ignoring {node} (configured)", node=node)
            self._skipped.add(node)
            return
        if not info.may_capture:
            self._skipped.add(node)  # a metadata or output node
            return
        pending = self._probes.pop(node, None)
        if pending is not None:
            pending.cancel()
        d = self._limit.run(lambda: defer.ensureDeferred(self._probe(info, settings)))
        self._probes[node] = d
        d.addErrback(lambda f: f.trap(defer.CancelledError))
        d.addBoth(self._probe_done, node, d)

    def _probe_done(self, result, node: str, d: defer.Deferred) -> None:
        if self._probes.get(node) is d:
            del self._probes[node]
        if isinstance(result, Failure):
            self.log.failure("probing {node} failed unexpectedly", failure=result, node=node)

    def _vanished(self, node: str) -> None:
        if node not in self._present or node in self._removals:
            return
        if self.config.debounce <= 0:
            self._remove(node)
        else:
            self._removals[node] = self._reactor.callLater(self.config.debounce, self._remove, node)

    def _remove(self, node: str) -> None:
        self._removals.pop(node, None)
        self._present.pop(node, None)
        self._skipped.discard(node)
        pending = self._probes.pop(node, None)
        if pending is not None:
            pending.cancel()
        self._forget(node)

    def _forget(self, node: str) -> None:
        camera_id = self._cameras.pop(node, None)
        if camera_id is not None and camera_id in self._registry:
            self._registry.remove(camera_id)

    # -- probing ---------------------------------------------------------

    async def _probe(self, info: DeviceInfo, settings: Optional[DeviceSettings]) -> None:
        if not self.running:
            return  # a queued probe let through while stopping
        try:
            probe = await self._prober.probe(info.node)
        except ProbeFailed as e:
            if self._present.get(info.node) == info:
                self.log.warn("probing {node} failed: {reason}", node=info.node, reason=str(e))
                self._put(self._error_camera(info, settings, str(e)), info.node)
            return
        if self._present.get(info.node) != info:
            return  # gone or replaced while probing
        if not probe.capture:
            self._skipped.add(info.node)
            self._forget(info.node)
            return
        camera = self._camera(info, settings, probe)
        if camera is None:
            self._put(self._error_camera(info, settings, "the device offers no capture mode"), info.node)
            return
        if self._put(camera, info.node) and settings and settings.controls:
            await self._apply_controls(info.node, camera.id, settings.controls)

    def _put(self, camera: Camera, node: str) -> bool:
        try:
            self._registry.add(camera)
        except CameraLimitReached:
            self.log.error("camera table full: {node} not added", node=node)
            self._skipped.add(node)
            return False
        self._cameras[node] = camera.id
        return True

    def _camera(self, info: DeviceInfo, settings: Optional[DeviceSettings], probe: Probe) -> Optional[Camera]:
        mode = self._mode(probe, settings)
        if mode is None:
            return None
        fourcc, size, fps = mode
        return Camera(
            id=info.camera_id,
            kind=CameraKind.USB,
            name=(settings.name if settings and settings.name else None) or probe.card or info.name or info.camera_id,
            status=CameraStatus.CONNECTED,
            resolution=size,
            fps=fps,
            formats=tuple(probe.formats),
            resolutions=tuple(probe.resolutions),
            fps_options=tuple(probe.fps_options),
            validation_status=ValidationStatus.CONFIRMED,
            source=info.node,
            input_format=fourcc,
            encoder=settings.encoder if settings else None,
            identity=info.identity(),
        )

    def _mode(self, probe: Probe, settings: Optional[DeviceSettings]):
        """The configured mode when the device offers it, else the best."""
        if settings and (settings.format or settings.resolution or settings.fps):
            for fourcc in ([settings.format] if settings.format else probe.formats):
                per_size = probe.modes.get(fourcc, {})
                sizes = [settings.resolution] if settings.resolution else sorted(per_size, key=_size, reverse=True)
                for size in sizes:
                    rates = per_size.get(size)
                    if rates and (settings.fps is None or settings.fps in rates):
                        return fourcc, size, settings.fps or rates[0]
            self.log.warn("configured mode not offered by the camera; using the best one it offers")
        return best_mode(probe, _size(self.config.max_resolution), max_fps=self.config.max_fps)

    def _error_camera(self, info: DeviceInfo, settings: Optional[DeviceSettings], reason: str) -> Camera:
        return Camera(
            id=info.camera_id,
            kind=CameraKind.USB,
            name=(settings.name if settings and settings.name else None) or info.name or info.camera_id,
            status=CameraStatus.ERROR,
            resolution="unknown",
            fps=0,
            validation_status=ValidationStatus.NONE,
            source=info.node,
            error=reason,
            identity=info.identity(),
        )

    async def _apply_controls(self, node: str, camera_id: str, controls) -> None:
        for name, value in controls.items():
            try:
                await self._prober.set_control(node, name, value)
            except ProbeFailed as e:
                self.log.warn(
                    "cannot set {control}={value} on {camera_id}: {reason}",
                    control=name, value=value, camera_id=camera_id, reason=str(e),
                )

    # -- controls (for the API) -----------------------------------------

    def node_of(self, camera_id: str) -> Optional[str]:
        for node, cid in self._cameras.items():
            if cid == camera_id:
                return node
        return None

    @property
    def prober(self) -> V4L2Prober:
        return self._prober
