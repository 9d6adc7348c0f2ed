"""The validated configuration as immutable values, one class per section.

Only the loader builds these; each service receives its own section in its
constructor (and later in ``reconfigService``).
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

__all__ = [
    "AuthConfig",
    "CamerasConfig",
    "ClientIdentity",
    "Config",
    "DeclaredCamera",
    "DeviceMatch",
    "DeviceSettings",
    "DiscoveryConfig",
    "ExternalStreamsConfig",
    "LoggingConfig",
    "ManholeConfig",
    "MqttConfig",
    "MediaConfig",
    "MediaMTXConfig",
    "RateLimitConfig",
    "RetentionConfig",
    "ServerConfig",
    "StorageConfig",
    "StreamsConfig",
    "TlsConfig",
    "from_mapping",
]


@dataclass(frozen=True)
class RateLimitConfig:
    requests_per_second: float
    burst: int
    close_after: int = 100


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate name mapped to a role (``server.tls.client_identities``)."""

    name: str
    role: str
    cameras: Optional[tuple[str, ...]] = None


@dataclass(frozen=True)
class TlsConfig:
    certificate: Optional[Path] = None
    private_key: Optional[Path] = None
    min_version: str = "1.2"
    client_certificates: str = "none"
    client_ca: Optional[Path] = None
    client_identities: tuple[ClientIdentity, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.certificate is not None


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    websocket_path: str
    max_connections: int
    max_message_size: int
    max_frame_size: int
    auto_ping_interval: float
    auto_ping_timeout: float
    open_handshake_timeout: float
    shutdown_timeout: float
    allowed_origins: tuple[str, ...]
    rate_limit: RateLimitConfig
    auth_timeout: float = 10
    max_connections_per_address: int = 64
    request_timeout: float = 10
    max_send_buffer: int = 1048576
    allowed_networks: tuple[str, ...] = ()
    metrics_access: str = "auto"
    tls: TlsConfig = field(default_factory=TlsConfig)


@dataclass(frozen=True)
class AuthConfig:
    jwt_secret: Optional[str]
    jwt_secret_file: Path
    api_keys_file: Path
    token_ttl: int
    leeway: float
    session_check_interval: float = 1


@dataclass(frozen=True)
class LoggingConfig:
    """The ``logging`` section.

    :ivar file: the JSON lines log file, or ``None`` for stdout only.
    :ivar max_size: bytes before a size-based rotation (0: none).
    :ivar rotate_interval: seconds between time-based rotations (0: none).
    :ivar keep: rotated files kept at most.
    :ivar total_size: bytes the file and its rotated files may take.
    :ivar compress: gzip rotated files.
    :ivar recent_errors: error events kept in memory.
    """

    level: str
    format: str
    file: Optional[Path] = None
    max_size: int = 10 * 1024 * 1024
    rotate_interval: int = 86400
    keep: int = 30
    total_size: int = 500 * 1024 * 1024
    compress: bool = True
    recent_errors: int = 100


@dataclass(frozen=True)
class ManholeConfig:
    """The ``manhole`` section (paths resolved by the loader).

    :ivar host: a loopback address (the schema allows no other).
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2222
    authorized_keys_file: Optional[Path] = None
    host_key_file: Optional[Path] = None


@dataclass(frozen=True)
class ReloadConfig:
    """The ``reload`` section.

    :ivar backups: accepted configurations kept in
        ``<data_dir>/config-backups/`` (0: none).
    """

    backups: int = 10


@dataclass(frozen=True)
class MediaMTXConfig:
    mode: str
    binary: Optional[str]
    host: str
    media_host: str
    api_port: int
    rtsp_port: int
    hls_port: int
    webrtc_port: int
    webrtc_udp_port: int
    protocols: tuple[str, ...]
    health_check_interval: float
    request_timeout: float
    retry_attempts: int
    retry_initial_delay: float
    retry_max_delay: float
    breaker_failure_threshold: int
    breaker_reset_timeout: float
    restart_min_delay: float
    restart_max_delay: float
    stop_timeout: float
    reconcile_interval: float
    on_demand_close_after: int
    source_start_timeout: int
    ffmpeg: str
    encoder: str
    log_level: str
    api_user: str = "camservice"
    api_password_file: Optional[Path] = None
    start_grace_period: float = 10.0

    @property
    def api_url(self) -> str:
        """Base URL of the Control API."""
        return f"http://{_host_for_url(self.host)}:{self.api_port}"


@dataclass(frozen=True)
class ExternalStreamsConfig:
    candidates: tuple[str, ...]
    scan_interval: float
    probe_timeout: float
    ffprobe: str
    allowed_targets: tuple[str, ...] = ()
    probe_concurrency: int = 2
    resolve_timeout: float = 5.0


@dataclass(frozen=True)
class StreamsConfig:
    public_host: Optional[str]
    signed_urls: Any = "auto"
    token_ttl: int = 3600
    auth_port: int = 9996
    allowed_networks: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class StorageConfig:
    """``media.storage``: when low disk space warns and when it blocks."""

    warn_percent: float = 80
    block_percent: float = 95
    min_free_mb: int = 256
    check_interval: float = 5


@dataclass(frozen=True)
class RetentionConfig:
    """``media.retention``: the policy in force until
    ``set_retention_policy`` stores one of its own."""

    policy_type: str = "manual"
    enabled: bool = False
    max_age_days: float = 30
    max_size_gb: float = 10
    interval: float = 3600


@dataclass(frozen=True)
class MediaConfig:
    """The ``media`` section: snapshots, recordings and their files.

    The loader makes both folders absolute (default: under ``data_dir``).
    """

    recordings_dir: Path = Path("recordings")
    snapshots_dir: Path = Path("snapshots")
    snapshot_timeout: float = 10
    snapshot_quality: int = 3
    still_token_ttl: int = 300
    live_snapshot_max_age: float = 3
    recording_format: str = "fmp4"
    part_duration: float = 1
    segment_duration: int = 60
    max_recording_duration: int = 86400
    stall_timeout: float = 6
    storage: StorageConfig = StorageConfig()
    retention: RetentionConfig = RetentionConfig()


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class DeclaredCamera:
    id: str
    kind: str
    name: str
    resolution: str
    fps: int
    url: Optional[str] = None


@dataclass(frozen=True)
class DeviceMatch:
    """A USB camera's identity to match; unset fields match anything."""

    serial: Optional[str] = None
    id_path: Optional[str] = None
    vendor_id: Optional[str] = None
    product_id: Optional[str] = None


@dataclass(frozen=True)
class DeviceSettings:
    match: DeviceMatch
    name: Optional[str] = None
    format: Optional[str] = None
    resolution: Optional[str] = None
    fps: Optional[int] = None
    encoder: Optional[str] = None
    controls: Mapping[str, int] = field(default_factory=dict)
    ignore: bool = False


@dataclass(frozen=True)
class DiscoveryConfig:
    mode: str
    poll_interval: float
    safety_poll_interval: float
    debounce: float
    probe_timeout: float
    reopen_max_delay: float
    v4l2_ctl: str
    max_resolution: str
    max_fps: int
    ignore: tuple[DeviceMatch, ...]


@dataclass(frozen=True)
class CamerasConfig:
    max_cameras: int
    declared: tuple[DeclaredCamera, ...]
    devices: tuple[DeviceSettings, ...] = ()


@dataclass(frozen=True)
class MqttTlsConfig:
    enabled: bool = False
    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None
    key_file: Optional[Path] = None


@dataclass(frozen=True)
class MqttReconnectConfig:
    initial_delay: float = 1.0
    max_delay: float = 60.0


@dataclass(frozen=True)
class HomeAssistantConfig:
    enabled: bool = True
    discovery_prefix: str = "homeassistant"
    still_interval: float = 10.0


@dataclass(frozen=True)
class MqttConfig:
    """The ``mqtt`` section (paths resolved by the loader).

    :ivar node_id: as configured; ``None`` means the host name (see
        :func:`camservice.mqtt.topics.node_name`).
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    node_id: Optional[str] = None
    username: Optional[str] = None
    password_file: Optional[Path] = None
    tls: MqttTlsConfig = MqttTlsConfig()
    keepalive: int = 60
    topic_prefix: str = "camservice"
    qos: int = 1
    coalesce_delay: float = 0.25
    reconnect: MqttReconnectConfig = MqttReconnectConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()


@dataclass(frozen=True)
class Config:
    """The whole configuration.

    :ivar source: the file it was read from (for messages).
    :ivar migrated_from: the file's ``version`` when it was older than the
        current one and migrated forward at load, else ``None``.
    """

    version: int
    data_dir: Path
    server: ServerConfig
    auth: AuthConfig
    logging: LoggingConfig
    mediamtx: MediaMTXConfig
    streams: StreamsConfig
    discovery: DiscoveryConfig
    external_streams: ExternalStreamsConfig
    cameras: CamerasConfig
    manhole: ManholeConfig = ManholeConfig()
    reload: ReloadConfig = ReloadConfig()
    media: MediaConfig = MediaConfig()
    mqtt: MqttConfig = MqttConfig()
    source: str = ""
    migrated_from: Optional[int] = None


def from_mapping(cls: type, data: Mapping[str, Any]) -> Any:
    """Build dataclass ``cls`` from a validated mapping, recursing into
    nested dataclasses and turning lists into tuples."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for member in dataclasses.fields(cls):
        if member.name not in data:
            continue
        kwargs[member.name] = _convert(hints[member.name], data[member.name])
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        if value is None:
            return None
        (hint,) = [h for h in typing.get_args(hint) if h is not type(None)]
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        return tuple(_convert(item_hint, v) for v in value)
    if hint is Path and value is not None:
        return Path(value)
    return value
