"""The composition root: builds the whole service tree from a config.

Only this module knows how the parts fit together; each part receives its
own config section and its collaborators.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.internet import defer, threads

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.settings import AuthSettings
from camservice.auth.tokens import TokenAuthority
from camservice.cameras.errors import UnknownCamera
from camservice.cameras.external import ExternalStreams
from camservice.cameras.monitor import CameraMonitor
from camservice.cameras.prober import V4L2Prober
from camservice.cameras.registry import CameraRegistry
from camservice.children import ChildLedger, LeftoverChildren
from camservice.config.model import Config
from camservice.console.resource import StreamOrigins, console_resources
from camservice.events import CAMERA_TOPICS, EventBus
from camservice.logs import LoggingSettings, make_observer
from camservice.media.publishers import kill_publishers
from camservice.media.stall import StallWatch
from camservice.media.capture import FrameCapture
from camservice.media.errors import MediaError
from camservice.media.live_frames import LiveFrames
from camservice.media.snapshot_settings import SnapshotSettings
from camservice.media.snapshots import SnapshotService
from camservice.media.file_tokens import FileTokens
from camservice.media.still_tokens import StillTokens
from camservice.media.files import MediaFiles
from camservice.media.retention import Retention
from camservice.media.storage import StorageMonitor
from camservice.media.recordings import RecordingService
from camservice.media.streams import StreamManager
from camservice.mediamtx.client import IMediaMTXAPI, MediaMTXClient
from camservice.mediamtx.controller import Health, MediaMTXController
from camservice.mediamtx.config_file import MediaAccess, media_origins
from camservice.mediamtx.holders import StreamHolders, hold_query
from camservice.mediamtx.process import MediaMTXProcess
from camservice.mediamtx.sources import publish_url
from camservice.mediamtx.urls import StreamLocator
from camservice.metrics import Metrics, ResourceCollector
from camservice.mqtt.bridge import MqttBridge
from camservice.mqtt.commands import InternalCommands
from camservice.mqtt.metrics import MqttMetrics
from camservice.ops.logfile import LogFileService
from camservice.ops.backups import ConfigBackups
from camservice.ops.manhole import ManholeService
from camservice.ops.recent import RecentErrors
from camservice.ops.reload import ReloadCoordinator, file_loader
from camservice.ops.systemd import Notifier as SystemdNotifier
from camservice.ops.systemd import SystemdService
from camservice.rpc.audit import Audit
from camservice.rpc.camera_methods import CameraMethods
from camservice.rpc.control_methods import ControlMethods
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.event_methods import EventMethods
from camservice.rpc.external_methods import ExternalStreamMethods
from camservice.rpc.file_methods import FileMethods
from camservice.rpc.methods import MethodTable
from camservice.rpc.notifier import Notifier
from camservice.rpc.ops_methods import OpsMethods
from camservice.rpc.recording_methods import RecordingMethods
from camservice.rpc.session_methods import SessionMethods
from camservice.rpc.snapshot_methods import SnapshotMethods
from camservice.rpc.sessions import SessionTable
from camservice.rpc.storage_methods import StorageMethods
from camservice.rpc.stream_methods import StreamMethods
from camservice.rpc.system_methods import SystemMethods
from camservice.rpc.views import CameraPresenter
from camservice.server.api_service import ApiServer
from camservice.server.files import FilesResource
from camservice.server.still import StillImageResource
from camservice.security.targets import TargetPolicy, own_ports, resolver
from camservice.service import ServiceTree
from camservice.status import SystemStatus
from camservice.streamauth.policy import StreamAccessPolicy, signed_urls_enabled
from camservice.streamauth.secrets import StreamSecrets, load_api_password, load_stream_key
from camservice.streamauth.service import StreamAuthServer, auth_url
from camservice.streamauth.settings import ControlApiCredentials, StreamSettings
from camservice.streamauth.tokens import StreamTokens
from camservice.sysinfo import SystemSampler

__all__ = ["Overrides", "build_service"]


@dataclass(frozen=True)
class Overrides:
    """Collaborators to use instead of the real ones (tests use fakes).

    :ivar mediamtx_api: a Control API client instead of treq against
        ``mediamtx.api_port``.
    :ivar retry_jitter: jitter function for MediaMTX retries.
    :ivar stream_probe: ``async (url) -> capabilities`` instead of ffprobe.
    :ivar run_blocking: instead of ``deferToThread`` for file writes.
    :ivar stream_holders: instead of FFmpeg keep-alive readers.
    :ivar prober: instead of running ``discovery.v4l2_ctl``.
    :ivar udev_context: makes the ``pyudev.Context`` discovery uses.
    :ivar has_udev: says whether a udev daemon runs (default: /run/udev).
    :ivar resolve: ``resolve(host) -> Deferred[list[str]]`` instead of
        ``getaddrinfo`` in a thread, for stream URL host names.
    :ivar reload_loader: ``() -> Deferred[(Config, text)]`` instead of
        reading ``config.source`` and the environment in a thread.
    :ivar systemd_notifier: instead of ``sd_notify`` to ``$NOTIFY_SOCKET``.
    :ivar end_publishers: ``camera_id -> Deferred[pids]`` instead of
        killing the processes publishing to the camera's path.
    :ivar capture_reactor: runs the FFmpeg captures and live-frame
        readers instead of ``reactor``.
    """

    mediamtx_api: Optional[IMediaMTXAPI] = None
    retry_jitter: Optional[Callable[[], float]] = None
    stream_probe: Optional[Callable] = None
    run_blocking: Optional[Callable] = None
    stream_holders: Any = None
    prober: Any = None
    udev_context: Optional[Callable] = None
    has_udev: Optional[Callable[[], bool]] = None
    resolve: Optional[Callable] = None
    reload_loader: Optional[Callable] = None
    systemd_notifier: Any = None
    end_publishers: Optional[Callable] = None
    capture_reactor: Any = None


def build_service(
    config: Config,
    secret: str,
    reactor,
    on_start_failure: Optional[Callable] = None,
    overrides: Overrides = Overrides(),
) -> ServiceTree:
    """The root service with its children, not yet started.

    Children, in start order: ``log-file`` (when ``logging.file`` is
    set), ``leftover-children`` (kills what a previous run that died
    left behind), ``recent-errors`` (the last error events), ``cameras`` (the camera table),
    ``camera-monitor`` (USB discovery), ``external-streams`` (network
    cameras added at run time), ``stream-auth`` (MediaMTX's auth callback
    on 127.0.0.1), ``mediamtx-process`` (managed mode only),
    ``mediamtx`` (the controller), ``stream-holders`` (keep-alive readers),
    ``streams`` (who holds each camera's stream, see :mod:`camservice.media.streams`),
    ``stall-watch`` (restarts sources that stopped sending),
    ``live-frames`` (the latest keyframe of held streams), ``frame-capture``
    (FFmpeg captures for snapshots and still images),
    ``media-files`` (the index of finalized recordings and snapshots),
    ``storage`` (disk space checks), ``retention`` (old files deleted),
    ``recordings`` (recording sessions, see :mod:`camservice.media.recordings`),
    ``audit`` (audit events and their summaries), ``api``, ``mqtt`` (the MQTT
    bridge, idle unless ``mqtt.enabled``), ``manhole``
    (when ``manhole.enabled``), ``reload`` (the reload coordinator),
    ``systemd`` (READY=1, STATUS= and the watchdog under systemd). They stop
    in reverse order.

    :param secret: the JWT secret (see :func:`camservice.auth.load_or_create_secret`).
    :param reactor: the reactor every part uses (also as its clock).
    :param on_start_failure: called with the failure if a child fails to
        start after the reactor runs.
    :param overrides: collaborators to use instead of the real ones.
    :raises ConfigError: the stream key or the Control API password file
        cannot be read or created.
    """
    o = overrides
    bus = EventBus()
    metrics = Metrics()
    log_file = LogFileService(config.logging, reactor) if config.logging.file is not None else None
    observer = make_observer(config.logging, also=(log_file.observer,) if log_file else ())
    tree = ServiceTree(on_start_failure=on_start_failure, log_observer=observer)
    tree.bus = bus
    tree.metrics = metrics
    tree.config = config
    if log_file is not None:
        # first: it stops last, keeping the other children's last words
        log_file.setName("log-file")
        log_file.setServiceParent(tree)
    ledger = ChildLedger(config.data_dir / "children.json")
    leftovers = LeftoverChildren(ledger)
    leftovers.setName("leftover-children")
    leftovers.setServiceParent(tree)
    recent_errors = RecentErrors(config.logging.recent_errors)
    recent_errors.setName("recent-errors")
    recent_errors.setServiceParent(tree)
    tree.recent_errors = recent_errors

    registry = CameraRegistry(config.cameras, bus, reactor)
    registry.setName("cameras")
    registry.setServiceParent(tree)
    monitor = CameraMonitor(
        config.discovery,
        config.cameras,
        registry,
        o.prober or V4L2Prober(reactor, config.discovery.v4l2_ctl, config.discovery.probe_timeout),
        reactor,
        context_factory=o.udev_context,
        has_udev=o.has_udev,
    )
    monitor.setName("camera-monitor")
    monitor.setServiceParent(tree)
    policy = TargetPolicy(
        config.external_streams.allowed_targets,
        own_ports(config),
        o.resolve or resolver(reactor, config.external_streams.resolve_timeout),
    )
    external = ExternalStreams(
        config.external_streams,
        config.data_dir / "external-streams.json",
        registry,
        reactor,
        probe=o.stream_probe,
        policy=policy,
        **({"run_blocking": o.run_blocking} if o.run_blocking is not None else {}),
    )
    external.setName("external-streams")
    external.setServiceParent(tree)

    keys = ApiKeyStore(config.auth.api_keys_file, reactor)
    authority = TokenAuthority(secret, reactor, config.auth.leeway)
    authenticator = Authenticator(authority, keys)
    sessions = SessionTable(reactor, keys, config.auth.session_check_interval)
    stream_secrets = StreamSecrets(load_stream_key(config.data_dir))
    api_password = load_api_password(config.mediamtx.api_password_file)
    signed = signed_urls_enabled(config)
    stream_tokens = StreamTokens(stream_secrets, reactor, config.streams.token_ttl)
    stream_policy = StreamAccessPolicy(
        stream_secrets, stream_tokens, authenticator, config.mediamtx.api_user, api_password,
        signed_urls=signed, allowed_networks=config.streams.allowed_networks,
    )
    audit = Audit(metrics, reactor)
    tree.audit = audit
    stream_auth = StreamAuthServer(config.streams.auth_port, stream_policy, metrics, reactor, audit)
    stream_auth.setName("stream-auth")
    stream_auth.setServiceParent(tree)

    api_client = o.mediamtx_api or MediaMTXClient(
        reactor, config.mediamtx.api_url, config.mediamtx.request_timeout,
        credentials=(config.mediamtx.api_user, api_password),
    )
    holders = o.stream_holders or StreamHolders(
        config.mediamtx, reactor, query=hold_query(stream_secrets.internal_credential), ledger=ledger
    )
    controller = MediaMTXController(
        config.mediamtx, api_client, registry, bus, metrics, reactor, jitter=o.retry_jitter,
        publish_secret=stream_secrets.publish_secret, hold_query=holders.query,
    )
    if config.mediamtx.mode == "managed":
        access = MediaAccess(auth_url(config.streams.auth_port), media_origins(config.server, config.streams))
        process = MediaMTXProcess(
            config.mediamtx, config.data_dir, metrics, reactor, access, on_started=controller.mediamtx_started,
            on_exited=controller.mediamtx_exited,
            ledger=ledger, api=api_client, run_blocking=o.run_blocking,
        )
        process.setName("mediamtx-process")
        process.setServiceParent(tree)
    controller.setName("mediamtx")
    controller.setServiceParent(tree)
    holders.setName("stream-holders")
    holders.setServiceParent(tree)
    streams = StreamManager(registry, controller, holders, bus, reactor)
    streams.setName("streams")
    streams.setServiceParent(tree)

    def in_thread(f, *args, **kwargs):
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), f, *args, **kwargs)

    def end_publishers(camera_id: str):
        return in_thread(kill_publishers, publish_url(controller.config, camera_id))

    stall_watch = StallWatch(config.media, controller, registry, bus, metrics, reactor,
                             o.end_publishers or end_publishers)
    stall_watch.setName("stall-watch")
    stall_watch.setServiceParent(tree)

    # the media files: index, disk space, retention (producers of files
    # call media_files.added and storage.check_writable)
    media_files = MediaFiles(
        config.media, config.data_dir / "media-cameras.json", reactor,
        run_blocking=o.run_blocking or in_thread, ffprobe=_ffprobe(config),
    )
    media_files.setName("media-files")
    media_files.setServiceParent(tree)
    storage = StorageMonitor(config.media, media_files, bus, reactor, run_blocking=o.run_blocking or in_thread)
    storage.setName("storage")
    storage.setServiceParent(tree)
    retention = Retention(
        config.media.retention, config.data_dir / "retention.json", media_files, audit, reactor,
        run_blocking=o.run_blocking or in_thread,
    )
    retention.setName("retention")
    retention.setServiceParent(tree)
    tree.media_files, tree.storage, tree.retention = media_files, storage, retention

    recordings = RecordingService(
        config.media,
        config.data_dir / "recordings.json",
        streams,
        controller.reconcile,
        lambda: controller.health is Health.UP,
        bus,
        reactor,
        o.run_blocking or in_thread,
        ffmpeg=config.mediamtx.ffmpeg,
        storage=storage,
        files=media_files,
        metrics=metrics,
    )
    # recording on or off is part of each camera's path configuration
    controller.path_extras = recordings.path_fields
    recordings.setName("recordings")
    recordings.setServiceParent(tree)

    def held_camera(camera_id: str):
        try:
            return streams.streamable(camera_id)
        except (UnknownCamera, MediaError):
            return None

    capture_reactor = o.capture_reactor or reactor
    # keyframes are kept of every stream held or watched, so that a
    # snapshot of a live camera answers at once
    live_frames = LiveFrames(config.mediamtx, config.media, capture_reactor,
                             lambda: set(streams.held()) | stall_watch.viewed, held_camera, holders.query,
                             ledger=ledger)
    live_frames.setName("live-frames")
    live_frames.setServiceParent(tree)
    capture = FrameCapture(
        config.mediamtx, config.media, capture_reactor, stream_secrets.internal_credential,
        mediamtx_down=lambda: controller.health is Health.DOWN, run_blocking=o.run_blocking or in_thread,
        live=live_frames,
    )
    capture.setName("frame-capture")
    capture.setServiceParent(tree)
    snapshots = SnapshotService(config.media, capture, streams.streamable, bus, reactor, o.run_blocking or in_thread,
                                files=media_files, storage=storage)
    still_tokens = StillTokens(stream_secrets, reactor, config.media.still_token_ttl)
    file_tokens = FileTokens(stream_secrets, reactor)

    locator = StreamLocator(config.mediamtx, config.streams, stream_tokens if signed else None)
    presenter = CameraPresenter(locator.urls, locator.epoch)
    status = SystemStatus(reactor, registry, discovery_active=lambda: monitor.active or external.scanning)
    bus.subscribe(lambda event: metrics.count_cameras(registry.cameras()) if event.topic in CAMERA_TOPICS else None)
    notifier = Notifier(bus, reactor, metrics, presenter)

    sampler = SystemSampler(reactor, config.data_dir, run_blocking=o.run_blocking or in_thread)
    metrics.registry.register(ResourceCollector(sampler))
    tree.sampler = sampler

    reloader = ReloadCoordinator(
        config,
        o.reload_loader or file_loader(config.source or None, reactor),
        (),
        bus,
        metrics,
        reactor,
        audit=audit,
        backups=ConfigBackups(config.data_dir / "config-backups"),
        run_blocking=o.run_blocking or in_thread,
        on_commit=lambda new: setattr(tree, "config", new),
    )
    tree.reloader = reloader

    table = MethodTable()
    for group in (
        SessionMethods(authenticator, audit, sessions),
        CameraMethods(registry, reactor, presenter, streams.camera_metrics),
        StreamMethods(streams, locator, reactor, recording=recordings.status),
        SystemMethods(reactor, registry, status, notifier, sampler, table, controller, streams.totals,
                      recording_metrics=recordings.metrics),
        RecordingMethods(recordings),
        EventMethods(notifier),
        ExternalStreamMethods(external, registry, reactor, audit),
        ControlMethods(registry, monitor),
        OpsMethods(recent_errors, reloader),
        SnapshotMethods(snapshots, streams.streamable, still_tokens, lambda: _api_base_url(tree.config, api)),
        FileMethods(media_files, audit=audit, tokens=file_tokens),
        StorageMethods(storage, retention),
    ):
        table.register_group(group)
    dispatcher = Dispatcher(
        table, authenticator, reactor, metrics, audit, trace=config.logging.level == "debug"
    )
    # stops after the API: the summaries pending then are written
    audit.setName("audit")
    audit.setServiceParent(tree)
    still = StillImageResource(
        lambda camera_id: defer.maybeDeferred(lambda: capture.capture(streams.streamable(camera_id))),
        authenticator, still_tokens, audit,
    )
    api = ApiServer(config.server, dispatcher, notifier, status, bus, metrics, reactor, sessions, authenticator,
                    resources={b"cameras": still,
                               b"files": FilesResource(media_files, authenticator, audit, file_tokens),
                               # the web console at / (public: the page holds no data)
                               **console_resources(StreamOrigins(locator.urls, locator.epoch),
                                                  config.server.websocket_path)})
    api.setName("api")
    api.setServiceParent(tree)

    # the reload walk's order: logging first (what follows logs at the new
    # level), then credentials, then the API's limits and certificates
    reloader.participants += [
        ("logging", LoggingSettings(observer, config.logging, log_file, recent_errors,
                                    on_level=lambda level: setattr(dispatcher, "trace", level == "debug"))),
        ("auth", AuthSettings(config.auth, secret, authority, keys, sessions)),
        ("cameras", registry),
        ("camera-monitor", monitor),
        ("external-streams", external),
        # the auth callback's new port listens before MediaMTX is told of
        # it; MediaMTX's globals change before the controller's paths
        ("stream-auth", stream_auth),
        ("mediamtx-credentials", ControlApiCredentials(config.mediamtx, api_password, stream_policy, api_client,
                                                       o.run_blocking or in_thread)),
        *([("mediamtx-process", process)] if config.mediamtx.mode == "managed" else []),
        ("mediamtx", controller),
        ("stream-holders", holders),
        ("stall-watch", stall_watch),
        ("recordings", recordings),
        ("streams", StreamSettings(config, stream_tokens, stream_policy, locator)),
        ("snapshots", SnapshotSettings(config, capture, snapshots, still_tokens, live_frames)),
        ("storage", storage),
        ("retention", retention),
        ("api", api),
    ]

    # the MQTT bridge (off unless mqtt.enabled): after the API, whose
    # dispatcher answers its requests; stops before it
    mqtt = MqttBridge(
        config.mqtt, config.server, reactor, bus, registry, presenter, recordings.status, dispatcher,
        MqttMetrics(metrics.registry),
        take_still=lambda camera_id: defer.maybeDeferred(
            lambda: capture.capture(streams.streamable(camera_id))).addCallback(lambda frame: frame.jpeg),
        commands=InternalCommands(dispatcher, reactor),
    )
    mqtt.setName("mqtt")
    mqtt.setServiceParent(tree)
    reloader.participants.append(("mqtt", mqtt))
    status.mqtt = mqtt

    status.add_component("camera_monitor", monitor)
    status.add_component("mediamtx", controller)
    status.add_component("websocket_server", api)

    if config.manhole.enabled:
        def manhole_namespace() -> dict:
            return {
                "root": tree,
                "services": tree.getServiceNamed,
                "config": tree.config,
                "registry": registry,
                "monitor": monitor,
                "external": external,
                "controller": controller,
                "breaker": controller.breaker,
                "api": api,
                "sessions": lambda: [p.session for p in api.factory.open_protocols],
                "status": status,
                "bus": bus,
                "metrics": metrics,
                "recent_errors": recent_errors,
                "reactor": reactor,
            }

        # last: it starts once everything it shows is up, and stops first
        manhole = ManholeService(config.manhole, reactor, manhole_namespace, audit)
        manhole.setName("manhole")
        manhole.setServiceParent(tree)
        reloader.participants.append(("manhole", manhole))
    reloader.setName("reload")
    reloader.setServiceParent(tree)

    def systemd_status() -> str:
        cameras = len(registry.cameras())
        return f"ready: {cameras} camera{'s' if cameras != 1 else ''}; MediaMTX {controller.health.value}"

    # last: ready once every other child has started; stops first (STOPPING=1)
    systemd = SystemdService(o.systemd_notifier or SystemdNotifier(), reactor, systemd_status)
    systemd.setName("systemd")
    systemd.setServiceParent(tree)
    return tree


def _api_base_url(config: Config, api: ApiServer) -> str:
    """The API port's URL as clients reach it: ``streams.public_host``,
    else the bound host (``127.0.0.1`` for a wildcard)."""
    host = config.streams.public_host or config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = api.listening_port or config.server.port
    return f"{'https' if config.server.tls.enabled else 'http'}://{host}:{port}"

def _ffprobe(config: Config) -> str:
    """ffprobe: ``external_streams.ffprobe`` when set to a path, else the
    one next to ``mediamtx.ffmpeg`` when that is a path, else from PATH."""
    import os

    chosen = config.external_streams.ffprobe
    ffmpeg = config.mediamtx.ffmpeg
    if os.sep not in chosen and os.sep in ffmpeg:
        sibling = os.path.join(os.path.dirname(ffmpeg), "ffprobe")
        if os.path.exists(sibling):
            return sibling
    return chosen

