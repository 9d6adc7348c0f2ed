"""The ``mqtt`` child service: this node's state, events and API on an
MQTT broker (see :mod:`camservice.mqtt.topics` for the topics).

Off unless ``mqtt.enabled``. It listens to the event bus: camera changes
are coalesced per camera (``mqtt.coalesce_delay``) and published as the
retained ``cameras/<id>/state`` when the Camera object changed (and a
retained state the broker still holds of a camera that is gone is cleared
on connecting), recording
changes as the retained ``cameras/<id>/recording``, and the API's
notifications under ``events/``: each under its API topic
(``events/camera.connected``, ``events/recording.start``,
``events/snapshot.taken``...), and camera and recording changes also under
their notification's method (``events/camera_status_update``,
``events/recording_status_update``), the names the first releases used.
Camera objects go out without credentials (:mod:`camservice.mqtt.public`).
``availability`` is ``online`` while
connected, ``offline`` on a clean stop and, as the MQTT will, when the
node dies. Requests on ``rpc`` are answered by :class:`~camservice.mqtt.rpc.MqttRpc`,
and Home Assistant discovery (``mqtt.homeassistant``) is handed every
camera change.

The broker is never waited for: while it is away, retained state is kept
and sent once it is back (events of that time are dropped).

paho-mqtt is imported only when the bridge is enabled: an idle service
does not carry it (and runs without it installed).
"""
from __future__ import annotations

import random as _random
import socket
from typing import Any, Callable, Optional

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from camservice import __version__
from camservice._defer import async_to_deferred
from camservice.cameras.errors import UnknownCamera
from camservice.codec import dumps, loads
from camservice.config import ConfigError, ConfigProblem
from camservice.config.model import Config, MqttConfig, ServerConfig
from camservice.events import ADMIN_TOPICS, CAMERA_TOPICS, RECORDING_TOPICS, Event, EventBus
from camservice.mqtt.backoff import Backoff
from camservice.mqtt.metrics import MqttMetrics
from camservice.mqtt.public import public_camera
from camservice.mqtt.publisher import Coalescer, Publisher
from camservice.mqtt.rpc import MqttRpc
from camservice.mqtt.topics import Topics, node_name, sanitize_level
from camservice.rpc.notifier import notification_for

__all__ = ["MqttBridge", "camera_event_topic", "recording_payload"]

ONLINE, OFFLINE = b"online", b"offline"


def recording_payload(status: Optional[dict]) -> dict:
    """``cameras/<id>/recording`` from ``RecordingService.status``."""
    if status is None:
        return {"recording": False}
    return {
        "recording": True,
        "filename": status.get("filename"),
        "started_at": status.get("start_time"),
        "format": status.get("format"),
        "stops_at": status.get("stops_at"),
    }


def camera_event_topic(before: Optional[dict], after: dict) -> str:
    """The API's ``camera.*`` topic of a published change: the camera
    table's rule, applied to the Camera last published and the one
    published now (a flap coalesced away is no event)."""
    status = after.get("status")
    if before is None or before.get("status") != status:
        if status == "CONNECTED":
            return "camera.connected"
        if status == "DISCONNECTED":
            return "camera.disconnected"
    return "camera.status_change"


def _recording_from_event(event: Event) -> dict:
    data = event.data or {}
    if event.topic == "recording.start":
        return {"recording": True, "filename": data.get("filename"), "started_at": data.get("start_time"),
                "format": data.get("format"), "stops_at": data.get("stops_at")}
    out = {"recording": False, "status": data.get("status"), "filename": data.get("filename"),
           "started_at": data.get("start_time"), "duration": data.get("duration")}
    if data.get("reason") is not None:
        out["reason"] = data["reason"]
    return out


class MqttBridge(service.Service):
    """Publishes this node on the broker and answers requests from it.

    :param config: the ``mqtt`` section.
    :param server: the ``server`` section (rate limit, message size of
        requests, as on the WebSocket).
    :param reactor: the reactor (also the clock).
    :param bus: the event bus.
    :param registry: the camera table.
    :param presenter: renders API.md's Camera.
    :param recording_status: ``camera_id -> dict or None``
        (:meth:`RecordingService.status`).
    :param dispatcher: answers JSON-RPC requests.
    :param metrics: the bridge's metrics.
    :param take_still: ``camera_id -> Deferred[bytes]`` (JPEG), for
        Home Assistant's camera entities.
    :param commands: what Home Assistant's switches and buttons call
        (:class:`~camservice.mqtt.commands.InternalCommands`).
    :param homeassistant: builds the discovery object (default:
        :class:`camservice.mqtt.homeassistant.HomeAssistantDiscovery`).
    :param hostname: ``() -> str``, for the default node id.
    :param random: ``() -> float`` for the reconnection jitter.
    :param run_blocking: ``(f, *args) -> Deferred`` for the connection's
        blocking part (default: a thread).
    """

    log = Logger()
    #: everything under ``mqtt`` is taken while running
    reloadable_keys = ("mqtt",)

    def __init__(
        self,
        config: MqttConfig,
        server: ServerConfig,
        reactor,
        bus: EventBus,
        registry,
        presenter,
        recording_status: Callable[[str], Optional[dict]],
        dispatcher,
        metrics: MqttMetrics,
        take_still: Optional[Callable[[str], defer.Deferred]] = None,
        commands: Any = None,
        homeassistant: Optional[Callable[..., Any]] = None,
        hostname: Callable[[], str] = socket.gethostname,
        random: Callable[[], float] = _random.random,
        run_blocking: Optional[Callable] = None,
    ):
        self.config = config
        self._reactor = reactor
        self._bus = bus
        self._registry = registry
        self._presenter = presenter
        self._recording_status = recording_status
        self._metrics = metrics
        self._take_still = take_still
        self._commands = commands
        self._homeassistant = homeassistant
        self._hostname = hostname
        self._random = random
        self._run_blocking = run_blocking
        self.rpc = MqttRpc(dispatcher, reactor, server.rate_limit, self._reply, server.max_message_size,
                           counted=lambda outcome: metrics.rpc.labels(outcome).inc())
        self.client = None
        #: why the bridge cannot run although enabled (paho-mqtt missing)
        self.problem: Optional[str] = None
        self.topics: Optional[Topics] = None
        self.publisher: Optional[Publisher] = None
        self.ha = None
        self._coalescer: Optional[Coalescer] = None
        self._unsubscribe: Optional[Callable[[], None]] = None
        #: camera id -> the last Camera object published
        self._views: dict[str, dict] = {}

    # -- the service ---------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        if self.config.enabled:
            self._start_session()

    def stopService(self) -> defer.Deferred:
        super().stopService()
        return defer.ensureDeferred(self._stop_session())

    def checkConfig(self, new: Config) -> None:
        """Refuse files that are named but missing."""
        section = new.mqtt
        if not section.enabled:
            return
        problems = []
        for key, path in (("mqtt.password_file", section.password_file), ("mqtt.tls.ca_file", section.tls.ca_file),
                          ("mqtt.tls.cert_file", section.tls.cert_file), ("mqtt.tls.key_file", section.tls.key_file)):
            if path is not None and not path.is_file():
                problems.append(ConfigProblem(key, "must name an existing file", str(path), new.source))
        if problems:
            raise ConfigError(problems)

    @async_to_deferred
    async def reconfigService(self, new: Config) -> None:
        """Take a new ``mqtt`` section: a new broker session with the new
        settings (or none when disabled). The rate limit follows
        ``server.rate_limit``."""
        self.rpc.rate_limit = new.server.rate_limit
        self.rpc.max_message_size = new.server.max_message_size
        if new.mqtt == self.config:
            return
        await self._stop_session()
        self.config = new.mqtt
        self.problem = None
        if self.running and self.config.enabled:
            self._start_session()

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> str:
        """``disabled``, ``connecting`` or ``connected``."""
        if self.client is None:
            return "disabled"
        return "connected" if self.client.connected else "connecting"

    def health(self) -> tuple[bool, dict]:
        """``/health/mqtt``: good when connected, or disabled."""
        state = self.state
        body: dict = {"status": state}
        if self.problem is not None:
            return False, {"status": state, "detail": self.problem}
        if self.client is not None:
            body.update(node_id=self.topics.node, topic_prefix=self.topics.prefix)
            if self.client.detail:
                body["detail"] = self.client.detail
        return state != "connecting", body

    def node_id(self, config: Optional[MqttConfig] = None) -> str:
        return node_name((config or self.config).node_id, self._hostname)

    # -- session ---------------------------------------------------------------

    def _start_session(self) -> None:
        try:
            from camservice.mqtt.client import ConnectionSettings, ReactorMqttClient
        except ImportError as e:
            self.problem = f"mqtt.enabled is true but paho-mqtt cannot be imported: {e}"
            self.log.error("MQTT: {problem}", problem=self.problem)
            return
        self.problem = None
        c = self.config
        node = self.node_id()
        self.topics = topics = Topics(c.topic_prefix, node)
        self.rpc.response_base = topics.rpc_response_base
        self.publisher = Publisher(self._send, counted=lambda kind: self._metrics.published.labels(kind).inc())
        self._coalescer = Coalescer(self._reactor, c.coalesce_delay, self._flush_camera)
        self._views = {}
        settings = ConnectionSettings(
            host=c.host, port=c.port, client_id=sanitize_level(f"camservice-{node}", 128), keepalive=c.keepalive,
            username=c.username, password_file=c.password_file,
            tls=c.tls.enabled, ca_file=c.tls.ca_file, cert_file=c.tls.cert_file, key_file=c.tls.key_file,
            will=(topics.availability, OFFLINE, c.qos, True),
        )
        self.client = ReactorMqttClient(
            self._reactor, settings, Backoff(c.reconnect.initial_delay, c.reconnect.max_delay, self._random),
            self._connected, self._disconnected, self._message, run_blocking=self._run_blocking,
            on_attempt=self._metrics.reconnects.inc,
        )
        self.ha = self._make_homeassistant(node) if c.homeassistant.enabled else None
        self.publisher.retain(topics.availability, ONLINE)
        for camera in self._registry.cameras():
            self._flush_camera(camera.id)
        self._unsubscribe = self._bus.subscribe(self._event)
        self._metrics.set_state("connecting")
        self.log.info("MQTT: publishing as {base} on {host}:{port}", base=topics.base, host=c.host, port=c.port)
        self.client.start()

    async def _stop_session(self) -> None:
        client = self.client
        if client is None:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._coalescer.stop()
        if self.ha is not None:
            try:
                self.ha.stop()
            except Exception:
                self.log.failure("MQTT: stopping Home Assistant discovery failed")
        self.publisher.retain(self.topics.availability, OFFLINE)
        await client.stop()
        self.client = None
        self.rpc.response_base = None
        self.ha = None
        self._metrics.set_state("disabled")

    def _make_homeassistant(self, node: str):
        factory = self._homeassistant
        if factory is None:
            try:
                from camservice.mqtt.homeassistant import HomeAssistantDiscovery as factory
            except ImportError:
                self.log.warn("MQTT: Home Assistant discovery is not available in this build")
                return None
        ha = self.config.homeassistant
        return factory(
            publish=self._ha_publish,
            node_id=node,
            topic_prefix=self.config.topic_prefix,
            discovery_prefix=ha.discovery_prefix,
            take_still=self._take_still,
            commands=self._commands,
            clock=self._reactor,
            still_interval=ha.still_interval,
            node_info={"name": node, "sw_version": __version__, "availability_topic": self.topics.availability},
        )

    def _send(self, topic: str, payload: bytes, retain: bool) -> bool:
        client = self.client
        return client is not None and client.publish(topic, payload, self.config.qos, retain)

    def _ha_publish(self, topic: str, payload: bytes, retain: bool) -> None:
        # sent as asked: discovery keeps its own configs and sends them
        # again on each session and on Home Assistant's birth
        if self._send(topic, payload, retain):
            self._metrics.published.labels("homeassistant").inc()

    def _reply(self, topic: str, payload: bytes, correlation: Optional[bytes]) -> None:
        client = self.client
        if client is None:
            return
        from camservice.mqtt.compat import publish_properties

        props = publish_properties(correlation, "application/json")
        try:
            if client.publish(topic, payload, self.config.qos, False, properties=props):
                self._metrics.published.labels("rpc").inc()
        except ValueError as e:
            self.log.info("MQTT: cannot answer on {topic!r}: {error}", topic=topic, error=str(e))

    def _connected(self) -> None:
        self._metrics.set_state("connected")
        topics = [self.topics.rpc]
        if self.ha is not None:
            topics += list(self.ha.subscriptions())
        self.client.subscribe(topics, self.config.qos)
        # what the broker still holds of cameras gone while we were away
        self.client.subscribe([f"{self.topics.base}/cameras/+/state"], self.config.qos, no_local=True)
        self.publisher.connected()
        if self.ha is not None:
            self.ha.connected()

    def _disconnected(self) -> None:
        if self.client is not None:
            self._metrics.set_state("connecting")
        self.publisher.disconnected()
        if self.ha is not None:
            self.ha.disconnected()

    def _message(self, topic: str, payload: bytes, properties, retained: bool = False) -> None:
        if topic == self.topics.rpc:
            self.rpc.handle(payload, properties)
            return
        if retained and topic.startswith(f"{self.topics.base}/cameras/") and topic.endswith("/state"):
            self._stale_state(topic[len(self.topics.base) + 9:-6], payload)
            return
        if self.ha is not None and self.ha.handle_message(topic, payload):
            return
        self.log.debug("MQTT: message on {topic} not for us", topic=topic)

    def _stale_state(self, camera_id: str, payload: bytes) -> None:
        """A retained state on the broker: cleared if the camera is not
        ours any more (it went while this node was down or away)."""
        if not payload or "/" in camera_id or camera_id in self._registry:
            return
        if self.publisher.current(self.topics.state(camera_id)):
            return
        self.log.info("MQTT: clearing the retained state of {camera_id}, which is gone", camera_id=camera_id)
        self.publisher.clear(self.topics.state(camera_id))
        self.publisher.clear(self.topics.recording(camera_id))
        if self.ha is not None:
            # discovery knows a camera's entities from its Camera object:
            # shown the last one, then told it is gone, it empties them
            try:
                last = loads(payload)
            except ValueError:
                return
            if isinstance(last, dict) and last.get("device") == camera_id:
                self.ha.camera_updated(last)
                self.ha.camera_removed(camera_id)

    # -- events --------------------------------------------------------------

    def _event(self, event: Event) -> None:
        if event.topic in ADMIN_TOPICS:
            return
        if event.topic in CAMERA_TOPICS:
            if event.device is not None:
                self._coalescer.mark(event.device)
            return
        if event.topic in RECORDING_TOPICS and event.device is not None:
            payload = dumps(_recording_from_event(event))
            self.publisher.retain(self.topics.recording(event.device), payload)
        method, params = notification_for(event, self._reactor, self._presenter)
        payload = dumps(params)
        self.publisher.event(self.topics.event(event.topic), payload)
        if method != "event":
            self.publisher.event(self.topics.event(method), payload)

    def _flush_camera(self, camera_id: str) -> None:
        """Publish ``camera_id`` as it is now (after the coalescing delay)."""
        topics, publisher = self.topics, self.publisher
        try:
            camera = self._registry.get(camera_id)
        except UnknownCamera:
            camera = None
        if camera is None:
            last = self._views.pop(camera_id, None)
            if publisher.current(topics.state(camera_id)):
                publisher.clear(topics.state(camera_id))
                publisher.clear(topics.recording(camera_id))
                if last is not None:
                    gone = dumps({**last, "status": "DISCONNECTED", "removed": True})
                    publisher.event(topics.event("camera.disconnected"), gone)
                    publisher.event(topics.event("camera_status_update"), gone)
            if self.ha is not None:
                self.ha.camera_removed(camera_id)
            return
        view = public_camera(self._presenter.camera(camera))
        payload = dumps(view)
        recording_topic = topics.recording(camera_id)
        if not publisher.current(recording_topic):
            publisher.retain(recording_topic, dumps(recording_payload(self._recording_status(camera_id))))
        if publisher.current(topics.state(camera_id)) == payload:
            return
        before = self._views.get(camera_id)
        self._views[camera_id] = view
        publisher.retain(topics.state(camera_id), payload)
        publisher.event(topics.event(camera_event_topic(before, view)), payload)
        publisher.event(topics.event("camera_status_update"), payload)
        if self.ha is not None:
            self.ha.camera_updated(view)
