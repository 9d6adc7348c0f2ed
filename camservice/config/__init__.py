"""Configuration: the YAML file, its schema, environment overrides and the
immutable values each service receives."""
from camservice.config.errors import ConfigError, ConfigProblem
from camservice.config.loader import default_config_path, load_config
from camservice.config.model import (
    AuthConfig,
    CamerasConfig,
    Config,
    DeclaredCamera,
    DeviceMatch,
    DeviceSettings,
    DiscoveryConfig,
    ExternalStreamsConfig,
    LoggingConfig,
    MediaMTXConfig,
    RateLimitConfig,
    ServerConfig,
    StreamsConfig,
)

__all__ = [
    "AuthConfig",
    "CamerasConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DeclaredCamera",
    "DeviceMatch",
    "DeviceSettings",
    "DiscoveryConfig",
    "ExternalStreamsConfig",
    "LoggingConfig",
    "MediaMTXConfig",
    "RateLimitConfig",
    "ServerConfig",
    "StreamsConfig",
    "default_config_path",
    "load_config",
]
