"""Home Assistant MQTT discovery: every camera of this node appears in Home
Assistant unasked, as one device with a camera, a connected sensor, a
recording switch and a snapshot button.

Home Assistant reads retained config payloads under its discovery prefix
(``<discovery_prefix>/<component>/<node>/<camera>_<object>/config``: the
node is a topic level of its own, so a broker ACL can give each node only
its own configs) and
announces itself with a birth message (``online`` on
``<discovery_prefix>/status``), after which devices publish their configs
again. Key names are HA's full ones, not its abbreviations, so a payload
reads as the docs do: https://www.home-assistant.io/integrations/mqtt/

This module only decides what to publish and when; the bridge owns the
broker session and hands it a ``publish`` callable, the broker events
(:meth:`HomeAssistantDiscovery.connected`, ``disconnected``, messages) and
the camera table's changes.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from camservice.cameras.model import CAMERA_ID

__all__ = ["HomeAssistantDiscovery", "is_jpeg", "object_slug"]

ONLINE = "online"
OFFLINE = "offline"
#: The switch's and the sensor's payloads (HA's defaults, written out).
ON, OFF, PRESS = "ON", "OFF", "PRESS"
MANUFACTURER = "camservice"

_NOT_SLUG = re.compile(r"[^a-zA-Z0-9_-]")
_CONNECTED_TEMPLATE = "{{ 'ON' if value_json.status == 'CONNECTED' else 'OFF' }}"
_CAMERA_AVAILABLE_TEMPLATE = "{{ 'online' if value_json.status == 'CONNECTED' else 'offline' }}"
_RECORDING_TEMPLATE = "{{ 'ON' if value_json.recording else 'OFF' }}"


def object_slug(text: str) -> str:
    """``text`` as HA allows in a discovery topic's node and object ids
    (``[a-zA-Z0-9_-]``): every other character becomes ``_``."""
    return _NOT_SLUG.sub("_", text)


def is_jpeg(data: bytes) -> bool:
    """Whether ``data`` starts with a JPEG's SOI marker and ends with its
    EOI marker (a truncated file has no EOI)."""
    return (
        isinstance(data, (bytes, bytearray))
        and len(data) >= 4
        and data[:2] == b"\xff\xd8"
        and data[-2:] == b"\xff\xd9"
    )


def _encode(payload: dict) -> bytes:
    # sorted and compact: one payload, one byte string, so "unchanged" is
    # a byte comparison
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


class HomeAssistantDiscovery:
    """Publishes this node's cameras as Home Assistant devices and answers
    the commands HA sends back.

    :param publish: ``publish(topic, payload, retain) -> None``; the bridge
        sends (or queues) it with its QoS. Called only while connected.
    :param node_id: this node's id in topics (``<prefix>/<node>/...``).
    :param topic_prefix: the bridge's topic prefix (``camservice``).
    :param discovery_prefix: HA's discovery prefix (``homeassistant``).
    :param take_still: ``take_still(camera_id) -> Deferred[bytes]``, a JPEG
        of the camera's current picture.
    :param commands: an object with ``start_recording(camera_id)``,
        ``stop_recording(camera_id)`` and ``take_snapshot(camera_id)``,
        each returning a Deferred; what the switch and button do.
    :param clock: the reactor's time, for the still interval.
    :param still_interval: seconds between the stills of each camera while
        HA is online; 0 publishes stills only on request.
    :param node_info: ``{name, sw_version, availability_topic}`` of this
        node (``availability_topic`` defaults to
        ``<prefix>/<node>/availability``).
    """

    log = Logger()

    def __init__(
        self,
        publish: Callable[[str, bytes, bool], None],
        node_id: str,
        topic_prefix: str,
        discovery_prefix: str,
        take_still: Callable[[str], "defer.Deferred[bytes]"],
        commands: Any,
        clock: IReactorTime,
        still_interval: float,
        node_info: dict,
    ):
        if still_interval < 0:
            raise ValueError("still_interval must be >= 0 seconds")
        self._publish = publish
        self._node_id = node_id
        self._prefix = topic_prefix
        self._discovery_prefix = discovery_prefix
        self._take_still = take_still
        self._commands = commands
        self._clock = clock
        self._still_interval = still_interval
        self._node_name = node_info.get("name") or node_id
        self._sw_version = str(node_info.get("sw_version") or "")
        self._availability_topic = node_info.get("availability_topic") or f"{topic_prefix}/{node_id}/availability"
        self._slug = object_slug(node_id)
        self._node_device_id = f"camservice_{self._slug}"
        # camera id -> its Camera object as last seen
        self._cameras: dict[str, dict] = {}
        # config topic -> the payload last published in this session
        self._published: dict[str, bytes] = {}
        # config topics to empty when next connected (removed meanwhile)
        self._pending_removals: set[str] = set()
        self._connected = False
        # None: no birth or will seen yet, which counts as online
        self._ha_online: Optional[bool] = None
        self._stopped = False
        self._loop: Optional[LoopingCall] = None
        # camera id -> the still being taken; and cameras owed one more
        self._stills: dict[str, defer.Deferred] = {}
        self._still_again: set[str] = set()

    # -- topics ---------------------------------------------------------

    def _camera_topic(self, camera_id: str, leaf: str) -> str:
        return f"{self._prefix}/{self._node_id}/cameras/{camera_id}/{leaf}"

    def state_topic(self, camera_id: str) -> str:
        """The retained Camera JSON the bridge publishes."""
        return self._camera_topic(camera_id, "state")

    def recording_topic(self, camera_id: str) -> str:
        """The retained ``{"recording": bool}`` the bridge publishes."""
        return self._camera_topic(camera_id, "recording")

    def still_topic(self, camera_id: str) -> str:
        """Where JPEG stills go (not retained)."""
        return self._camera_topic(camera_id, "still")

    def recording_command_topic(self, camera_id: str) -> str:
        return self._camera_topic(camera_id, "recording/set")

    def snapshot_command_topic(self, camera_id: str) -> str:
        return self._camera_topic(camera_id, "snapshot/press")

    @property
    def birth_topic(self) -> str:
        return f"{self._discovery_prefix}/status"

    def _config_topic(self, component: str, camera_id: str, obj: str) -> str:
        return f"{self._discovery_prefix}/{component}/{self._slug}/{camera_id}_{obj}/config"

    def subscriptions(self) -> list[str]:
        """Topic filters the bridge must subscribe to and feed to
        :meth:`handle_message`."""
        base = f"{self._prefix}/{self._node_id}/cameras/+"
        return [self.birth_topic, f"{base}/recording/set", f"{base}/snapshot/press"]

    # -- payloads -------------------------------------------------------

    def _origin(self) -> dict:
        origin = {"name": MANUFACTURER}
        if self._sw_version:
            origin["sw_version"] = self._sw_version
        return origin

    def _node_availability(self) -> dict:
        return {"topic": self._availability_topic, "payload_available": ONLINE, "payload_not_available": OFFLINE}

    def _node_config(self) -> tuple[str, dict]:
        """A connectivity sensor on the node's own device, so the cameras'
        ``via_device`` names a device HA knows. It has no availability of
        its own: when the node is gone it reads "off", not "unavailable"."""
        device = {
            "identifiers": [self._node_device_id],
            "name": self._node_name,
            "model": "camservice node",
            "manufacturer": MANUFACTURER,
        }
        if self._sw_version:
            device["sw_version"] = self._sw_version
        topic = f"{self._discovery_prefix}/binary_sensor/{self._slug}/online/config"
        return topic, {
            "name": "Online",
            "unique_id": f"{self._node_device_id}_online",
            "state_topic": self._availability_topic,
            "payload_on": ONLINE,
            "payload_off": OFFLINE,
            "device_class": "connectivity",
            "entity_category": "diagnostic",
            "device": device,
            "origin": self._origin(),
        }

    def _camera_configs(self, camera_id: str, camera: dict) -> dict[str, dict]:
        """The four entities of one camera, by config topic."""
        device_id = f"{self._node_device_id}_{camera_id}"
        device = {
            "identifiers": [device_id],
            "name": f"{camera.get('name') or camera_id} ({self._node_name})",
            "model": "camservice camera",
            "manufacturer": MANUFACTURER,
            "via_device": self._node_device_id,
        }
        if self._sw_version:
            device["sw_version"] = self._sw_version
        node = self._node_availability()
        # the camera's entities work only while the node is up and the
        # camera connected; the connected sensor only needs the node
        both = {
            "availability": [
                node,
                {
                    "topic": self.state_topic(camera_id),
                    "value_template": _CAMERA_AVAILABLE_TEMPLATE,
                    "payload_available": ONLINE,
                    "payload_not_available": OFFLINE,
                },
            ],
            "availability_mode": "all",
        }
        common = {"device": device, "origin": self._origin()}
        return {
            self._config_topic("camera", camera_id, "camera"): {
                # null: the entity is named after its device
                "name": None,
                "unique_id": f"{device_id}_camera",
                "topic": self.still_topic(camera_id),
                **both,
                **common,
            },
            self._config_topic("binary_sensor", camera_id, "connected"): {
                "name": "Connected",
                "unique_id": f"{device_id}_connected",
                "state_topic": self.state_topic(camera_id),
                "value_template": _CONNECTED_TEMPLATE,
                "payload_on": ON,
                "payload_off": OFF,
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                "availability": [node],
                **common,
            },
            self._config_topic("switch", camera_id, "recording"): {
                "name": "Recording",
                "unique_id": f"{device_id}_recording",
                "command_topic": self.recording_command_topic(camera_id),
                "state_topic": self.recording_topic(camera_id),
                "value_template": _RECORDING_TEMPLATE,
                "payload_on": ON,
                "payload_off": OFF,
                "state_on": ON,
                "state_off": OFF,
                "optimistic": False,
                "icon": "mdi:record-rec",
                **both,
                **common,
            },
            self._config_topic("button", camera_id, "snapshot"): {
                "name": "Snapshot",
                "unique_id": f"{device_id}_snapshot",
                "command_topic": self.snapshot_command_topic(camera_id),
                "payload_press": PRESS,
                "icon": "mdi:camera-iris",
                **both,
                **common,
            },
        }

    def config_payloads(self) -> dict[str, dict]:
        """Every config this node has in HA now, by topic: the node's
        sensor and each known camera's four entities."""
        topic, payload = self._node_config()
        configs = {topic: payload}
        for camera_id in sorted(self._cameras):
            configs.update(self._camera_configs(camera_id, self._cameras[camera_id]))
        return configs

    # -- camera table ---------------------------------------------------

    def camera_updated(self, camera: dict) -> None:
        """A camera was added or changed; publishes whichever of its
        configs changed (a status change alone changes none)."""
        camera_id = camera.get("device")
        if not isinstance(camera_id, str) or not CAMERA_ID.match(camera_id):
            self.log.warn("camera update without a valid id: {camera_id!r}", camera_id=camera_id)
            return
        before = self._cameras.get(camera_id)
        self._cameras[camera_id] = dict(camera)
        configs = self._camera_configs(camera_id, camera)
        self._pending_removals.difference_update(configs)
        if self._connected and not self._stopped:
            self._publish_configs(configs, force=False)
        # a camera that just connected shows a picture without waiting a
        # whole interval
        came_up = camera.get("status") == "CONNECTED" and (before is None or before.get("status") != "CONNECTED")
        if came_up and self._loop is not None and camera_id not in self._stills:
            self._start_still(camera_id)

    def camera_removed(self, camera_id: str) -> None:
        """A camera went away: its entities leave HA (empty retained
        configs, now or when next connected)."""
        camera = self._cameras.pop(camera_id, None)
        if camera is None:
            return
        self._still_again.discard(camera_id)
        topics = list(self._camera_configs(camera_id, camera))
        if not (self._connected and not self._stopped):
            self._pending_removals.update(topics)
            return
        for topic in topics:
            self._published.pop(topic, None)
            self._publish(topic, b"", True)

    # -- broker session -------------------------------------------------

    def connected(self) -> None:
        """The broker session is up: publish every config again (the
        broker may have lost them) and the removals owed; start stills."""
        if self._stopped:
            return
        self._connected = True
        self._published.clear()
        for topic in sorted(self._pending_removals):
            self._publish(topic, b"", True)
        self._pending_removals.clear()
        self._publish_configs(self.config_payloads(), force=True)
        self._update_still_loop()

    def disconnected(self) -> None:
        """The broker session is down: publish nothing until it is back."""
        self._connected = False
        self._update_still_loop()

    def stop(self) -> None:
        """Stop for good: no more stills, the ones being taken cancelled.
        The retained configs stay; HA shows the entities unavailable."""
        self._stopped = True
        self._connected = False
        self._update_still_loop()
        for d in list(self._stills.values()):
            d.cancel()
        self._still_again.clear()

    def _publish_configs(self, configs: dict[str, dict], force: bool) -> None:
        for topic, payload in configs.items():
            data = _encode(payload)
            if not force and self._published.get(topic) == data:
                continue
            self._published[topic] = data
            self._publish(topic, data, True)

    # -- messages -------------------------------------------------------

    def handle_message(self, topic: str, payload: bytes) -> bool:
        """One message from the broker.

        :returns: True if the topic was one of this module's (handled,
            even if the payload was refused), False otherwise.
        """
        if topic == self.birth_topic:
            self._ha_status(payload)
            return True
        base = f"{self._prefix}/{self._node_id}/cameras/"
        if not topic.startswith(base):
            return False
        rest = topic[len(base):]
        camera_id, _, action = rest.partition("/")
        if action not in ("recording/set", "snapshot/press"):
            return False
        if not CAMERA_ID.match(camera_id):
            self.log.warn("command for an invalid camera id on {topic}", topic=topic)
            return True
        if self._stopped:
            return True
        text = payload.decode("utf-8", "replace").strip() if isinstance(payload, (bytes, bytearray)) else str(payload)
        if camera_id not in self._cameras:
            self.log.warn("{action} for unknown camera {camera_id}", action=action, camera_id=camera_id)
            return True
        if action == "recording/set":
            if text == ON:
                self._run_command("start_recording", camera_id)
            elif text == OFF:
                self._run_command("stop_recording", camera_id)
            else:
                self.log.warn(
                    "recording command {payload!r} for {camera_id} is neither ON nor OFF",
                    payload=text[:64],
                    camera_id=camera_id,
                )
        elif text == PRESS:
            self._run_command("take_snapshot", camera_id).addCallback(
                lambda ok: self.request_still(camera_id) if ok else None
            )
        else:
            self.log.warn(
                "snapshot command {payload!r} for {camera_id} is not PRESS", payload=text[:64], camera_id=camera_id
            )
        return True

    def _ha_status(self, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace").strip() if isinstance(payload, (bytes, bytearray)) else str(payload)
        if text == ONLINE:
            self._ha_online = True
            # HA's documented behaviour: after its birth, devices publish
            # their discovery configs again
            if self._connected and not self._stopped:
                self._publish_configs(self.config_payloads(), force=True)
        elif text == OFFLINE:
            self._ha_online = False
        else:
            self.log.warn("Home Assistant status {payload!r} is neither online nor offline", payload=text[:64])
            return
        self._update_still_loop()

    def _run_command(self, method: str, camera_id: str) -> defer.Deferred:
        """Calls ``commands.<method>(camera_id)``; fires with True on
        success, False (logged) on failure; never fails."""
        d = defer.maybeDeferred(getattr(self._commands, method), camera_id)

        def done(_):
            self.log.info("{method} for {camera_id} from Home Assistant", method=method, camera_id=camera_id)
            return True

        def failed(failure):
            self.log.warn(
                "{method} for {camera_id} from Home Assistant failed: {error}",
                method=method,
                camera_id=camera_id,
                error=failure.getErrorMessage(),
            )
            return False

        return d.addCallbacks(done, failed)

    # -- stills ---------------------------------------------------------

    def _stills_wanted(self) -> bool:
        return (
            self._connected
            and not self._stopped
            and self._still_interval > 0
            and self._ha_online is not False
        )

    def _update_still_loop(self) -> None:
        if self._stills_wanted():
            if self._loop is None:
                self._loop = LoopingCall(self._still_round)
                self._loop.clock = self._clock
                self._loop.start(self._still_interval, now=True).addErrback(
                    lambda f: self.log.failure("the still loop stopped", failure=f)
                )
        elif self._loop is not None:
            loop, self._loop = self._loop, None
            loop.stop()

    def _still_round(self) -> None:
        """One tick: a still of each connected camera, skipping any whose
        last still is still being taken."""
        for camera_id, camera in sorted(self._cameras.items()):
            if camera.get("status") == "CONNECTED" and camera_id not in self._stills:
                self._start_still(camera_id)

    def request_still(self, camera_id: str) -> None:
        """Publish a fresh still of ``camera_id`` (after the one being
        taken, if any). Does nothing while disconnected."""
        if not self._connected or self._stopped or camera_id not in self._cameras:
            return
        if camera_id in self._stills:
            self._still_again.add(camera_id)
            return
        self._start_still(camera_id)

    def _start_still(self, camera_id: str) -> None:
        d = defer.ensureDeferred(self._still(camera_id))
        if d.called:
            # finished at once (a cached picture, or an early failure)
            d.addErrback(lambda f: self.log.failure("publishing a still of {camera_id}", failure=f, camera_id=camera_id))
            return
        self._stills[camera_id] = d

        def finished(result):
            self._stills.pop(camera_id, None)
            if camera_id in self._still_again:
                self._still_again.discard(camera_id)
                self.request_still(camera_id)
            return result

        d.addBoth(finished)
        d.addErrback(lambda f: self.log.failure("publishing a still of {camera_id}", failure=f, camera_id=camera_id))

    async def _still(self, camera_id: str) -> None:
        try:
            data = await self._take_still(camera_id)
        except defer.CancelledError:
            return
        except Exception as e:  # the camera's or FFmpeg's trouble: log, go on
            self.log.warn("no still of {camera_id}: {error}", camera_id=camera_id, error=str(e) or type(e).__name__)
            return
        if not is_jpeg(data):
            self.log.error("the still of {camera_id} is not a JPEG; not published", camera_id=camera_id)
            return
        if self._connected and not self._stopped and camera_id in self._cameras:
            self._publish(self.still_topic(camera_id), bytes(data), False)
