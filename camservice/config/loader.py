"""Read, override and validate the configuration.

The only code that reads the YAML file, the ``CAMSERVICE_*`` environment and
the JSON Schema. It gathers every problem before failing, so one run tells
the administrator everything that is wrong.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import yaml

from camservice.config.errors import _MISSING, ConfigError, ConfigProblem
from camservice.config.model import Config, from_mapping
from camservice.schema import Validator, compile_schema, describe, dotted
from camservice.security.errors import BadStreamURL
from camservice.security.targets import parse_allowed_target
from camservice.security.urls import parse_stream_url

__all__ = [
    "CURRENT_VERSION",
    "ENV_PREFIX",
    "MIGRATIONS",
    "FIRST_DECLARED_ID",
    "default_config_path",
    "load_config",
    "migrate",
    "schema",
]

ENV_PREFIX = "CAMSERVICE_"
#: Declared (non-USB) cameras are numbered from here; V4L2 has at most 256
#: video nodes, so camera0..camera255 stay free for /dev/video0..255.
FIRST_DECLARED_ID = 1000
_USB_ID_LIMIT = 256
_HERE = Path(__file__).resolve().parent

#: The ``version`` this camservice writes and validates against.
CURRENT_VERSION = 1
#: ``version`` N -> a function turning a version-N document (as read from
#: YAML) into version N+1 in place: a renamed key, a moved section. Older
#: files are migrated forward step by step before validation.
MIGRATIONS: dict[int, Callable[[dict], None]] = {}


def default_config_path() -> Path:
    """The packaged, documented default configuration file."""
    return _HERE / "camservice.yaml"


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The JSON Schema of the configuration (shipped in the package)."""
    return json.loads((_HERE / "camservice.schema.json").read_text("utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> Validator:
    # patterns match whole values: "camera1\n" is not a camera id
    return compile_schema(schema())


def load_config(
    path: Optional[os.PathLike | str] = None,
    environ: Optional[Mapping[str, str]] = None,
    *,
    euid: Optional[int] = None,
    text: Optional[str] = None,
) -> Config:
    """Load the configuration file, apply environment overrides, validate.

    :param path: the YAML file; ``None`` for the packaged default.
    :param environ: the environment to read ``CAMSERVICE_*`` overrides and
        ``XDG_DATA_HOME``/``HOME`` from (default ``os.environ``).
    :param euid: the user the service runs as (default: the current one);
        decides the default data folder.
    :param text: the file's content, already read (a reload backs up
        exactly what it loaded); relative paths still resolve against
        ``path``'s folder.
    :returns: the validated :class:`Config`.
    :raises ConfigError: naming every key, value and rule that is wrong.
    """
    environ = os.environ if environ is None else environ
    file_path = Path(path) if path is not None else default_config_path()
    source = str(file_path)
    document = _read_yaml(file_path, text)
    migrated_from = migrate(document, source)
    env_sources = _apply_overrides(document, environ)
    _fill_defaults(document, schema())
    problems = [
        problem
        for error in sorted(
            _validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
        )
        for problem in _problems_from(error, env_sources, source)
    ]
    if problems:
        raise ConfigError(problems)
    problems = (
        _assign_camera_ids(document, env_sources, source)
        + _check_media_host(document, env_sources, source)
        + _check_stream_targets(document, env_sources, source)
        + _check_server_access(document, env_sources, source)
        + _check_networks(document, env_sources, source)
    )
    if problems:
        raise ConfigError(problems)
    _resolve_paths(document, file_path.parent, environ, os.geteuid() if euid is None else euid)
    document["source"] = source
    document["migrated_from"] = migrated_from
    return from_mapping(Config, document)


def migrate(
    document: dict,
    source: str = "",
    migrations: Optional[Mapping[int, Callable[[dict], None]]] = None,
    current: Optional[int] = None,
) -> Optional[int]:
    """Bring ``document`` forward to version ``current``, in place.

    A file without ``version`` is taken to be current. The caller logs a
    notice when this returns a version (the loader may run in a thread).

    :param migrations: default :data:`MIGRATIONS`.
    :param current: default :data:`CURRENT_VERSION`.
    :returns: the file's older version, or ``None`` when it was current.
    :raises ConfigError: a version newer than ``current``, or one with no
        migration path.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    current = CURRENT_VERSION if current is None else current
    version = document.get("version", current)
    if not isinstance(version, int) or isinstance(version, bool) or version == current:
        return None  # a wrong type is the schema's to report
    if version > current:
        raise ConfigError([ConfigProblem(
            "version", f"is newer than this camservice reads (at most {current})", version, source
        )])
    start = version
    while version < current:
        step = migrations.get(version)
        if step is None:
            raise ConfigError([ConfigProblem(
                "version", f"cannot be migrated: no migration from version {version}", start, source
            )])
        step(document)
        version += 1
    document["version"] = current
    return start


def _read_yaml(path: Path, text: Optional[str] = None) -> dict:
    try:
        text = path.read_text("utf-8") if text is None else text
    except OSError as e:
        raise ConfigError([ConfigProblem("", f"cannot read the config file: {e.strerror}", source=str(path))])
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem("", "the config file is not UTF-8 text", source=str(path))])
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError([ConfigProblem("", f"{where}invalid YAML: {problem}", source=str(path))])
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            [ConfigProblem("", "the file must hold a mapping of sections", document, str(path))]
        )
    return document


def _apply_overrides(document: dict, environ: Mapping[str, str]) -> dict[tuple, str]:
    """Set every ``CAMSERVICE_<SECTION>__<KEY>`` value into ``document``.

    :returns: key path -> variable name, to name the source in errors.
    """
    sources: dict[tuple, str] = {}
    problems = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        raw = environ[name]
        key_path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        dotted = ".".join(key_path)
        node = _schema_node(key_path)
        if node is None:
            problems.append(ConfigProblem(dotted, "unknown key", raw, name))
            continue
        if node.get("type") == "object":
            problems.append(
                ConfigProblem(dotted, "is a section; override its keys one by one", raw, name)
            )
            continue
        try:
            value = _coerce(raw, node)
        except yaml.YAMLError:
            problems.append(ConfigProblem(dotted, "is not a valid YAML or JSON value", raw, name))
            continue
        parent = document
        for part in key_path[:-1]:
            child = parent.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(
                    ConfigProblem(part, "must be a mapping to take overrides", child, name)
                )
                break
            parent = child
        else:
            parent[key_path[-1]] = value
            sources[key_path] = name
    if problems:
        raise ConfigError(problems)
    return sources


def _schema_node(key_path: tuple) -> Optional[dict]:
    node = schema()
    for part in key_path:
        props = node.get("properties") if node.get("type") == "object" else None
        if not props or part not in props:
            return None
        node = props[part]
    return node


_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _coerce(raw: str, node: dict) -> Any:
    """Turn an environment value into the type the schema asks for.

    Numbers are read in base 10 (``010`` is ten, ``1e3`` a thousand);
    lists are JSON (``["a", "b"]``) or comma-separated (``a,b``); anything
    that does not fit is passed on as text for the schema to refuse with a
    clear rule.
    """
    types = node.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    text = raw.strip()
    if "null" in types and text in ("", "null", "~"):
        return None
    if "boolean" in types and text.lower() in _BOOLEANS and raw not in node.get("enum", ()):
        return _BOOLEANS[text.lower()]  # a boolean-or-word setting (streams.signed_urls)
    if "string" in types:
        return raw
    if "integer" in types and re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text, 10)
    if "number" in types:
        try:
            return float(text) if not re.fullmatch(r"[+-]?[0-9]+", text) else int(text, 10)
        except ValueError:
            return raw
    if "boolean" in types and text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if "array" in types:
        if text.startswith("["):
            return yaml.safe_load(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    if "object" in types and text.startswith("{"):
        return yaml.safe_load(text)
    return raw


def _fill_defaults(instance: Any, node: dict) -> None:
    """Put schema defaults into ``instance`` where keys are missing."""
    if not isinstance(instance, dict) or node.get("type") != "object":
        if isinstance(instance, list) and isinstance(node.get("items"), dict):
            for item in instance:
                _fill_defaults(item, node["items"])
        return
    for key, sub in node.get("properties", {}).items():
        if key not in instance:
            if "default" in sub:
                instance[key] = json.loads(json.dumps(sub["default"]))
            elif sub.get("type") == "object":
                instance[key] = {}
        if key in instance:
            _fill_defaults(instance[key], sub)


def _source_for(path: tuple, env_sources: dict[tuple, str], file_source: str) -> str:
    for length in range(len(path), 0, -1):
        name = env_sources.get(tuple(path[:length]))
        if name:
            return name
    return file_source


def _problems_from(error, env_sources, file_source) -> list[ConfigProblem]:
    """The problems one schema error stands for (one per unknown key)."""
    if error.validator == "additionalProperties":
        path = tuple(error.absolute_path)
        allowed = sorted(error.schema.get("properties", {}))
        rule = "is unknown (allowed: " + ", ".join(allowed) + ")"
        return [
            ConfigProblem(dotted(path + (key,)), rule, error.instance[key], _source_for(path + (key,), env_sources, file_source))
            for key in sorted(set(error.instance) - set(allowed))
        ]
    return [_problem_from(error, env_sources, file_source)]


def _problem_from(error, env_sources, file_source) -> ConfigProblem:
    if error.validator == "not" and tuple(error.absolute_path)[:2] == ("cameras", "declared"):
        path = tuple(error.absolute_path) + ("url",)
        rule, value = "is only allowed for kind: network", error.instance.get("url")
    else:
        path, rule, value = describe(error)
    if error.validator == "required":
        value = _MISSING
    return ConfigProblem(dotted(path), rule, value, _source_for(path, env_sources, file_source))


def _assign_camera_ids(document, env_sources, file_source) -> list[ConfigProblem]:
    """Check declared camera ids and give ids to those without one."""
    cameras = document["cameras"]
    declared = cameras["declared"]
    problems = []
    taken: dict[int, int] = {}
    for index, camera in enumerate(declared):
        if "id" not in camera:
            continue
        key = f"cameras.declared[{index}].id"
        source = _source_for(("cameras", "declared", index, "id"), env_sources, file_source)
        number = int(camera["id"][len("camera"):])
        if number < _USB_ID_LIMIT:
            problems.append(
                ConfigProblem(
                    key,
                    f"camera0..camera{_USB_ID_LIMIT - 1} are reserved for /dev/video0..{_USB_ID_LIMIT - 1}",
                    camera["id"],
                    source,
                )
            )
        elif number in taken:
            problems.append(
                ConfigProblem(key, f"is already used by cameras.declared[{taken[number]}]", camera["id"], source)
            )
        taken.setdefault(number, index)
    if len(declared) > cameras["max_cameras"]:
        problems.append(
            ConfigProblem(
                "cameras.declared",
                f"declares {len(declared)} cameras, more than cameras.max_cameras ({cameras['max_cameras']})",
                source=_source_for(("cameras", "declared"), env_sources, file_source),
            )
        )
    next_number = FIRST_DECLARED_ID
    for camera in declared:
        if "id" not in camera:
            while next_number in taken:
                next_number += 1
            taken[next_number] = -1
            camera["id"] = f"camera{next_number}"
        camera.setdefault("name", f"{camera['kind'].capitalize()} camera {camera['id'][6:]}")
    return problems


def _check_media_host(document, env_sources, file_source) -> list[ConfigProblem]:
    """MediaMTX binds to ``media_host`` and lets it publish: an address,
    not a host name."""
    host = document["mediamtx"]["media_host"]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return [ConfigProblem(
            "mediamtx.media_host", "must be an IP address (0.0.0.0 for every interface)", host,
            _source_for(("mediamtx", "media_host"), env_sources, file_source),
        )]
    return []


def _check_stream_targets(document, env_sources, file_source) -> list[ConfigProblem]:
    """Stream URLs are well formed (as ``add_external_stream`` wants them)
    and ``allowed_targets`` entries readable."""
    problems = []
    streams = document["external_streams"]
    urls = [(("external_streams", "candidates", i), url) for i, url in enumerate(streams["candidates"])]
    urls += [
        (("cameras", "declared", i, "url"), camera["url"])
        for i, camera in enumerate(document["cameras"]["declared"])
        if camera.get("url") is not None
    ]
    for path, url in urls:
        try:
            parse_stream_url(url)
        except BadStreamURL as e:
            # the value is left out: a URL may carry a password
            problems.append(ConfigProblem(dotted(path), e.rule, source=_source_for(path, env_sources, file_source)))
    for i, entry in enumerate(streams["allowed_targets"]):
        path = ("external_streams", "allowed_targets", i)
        try:
            parse_allowed_target(entry)
        except ValueError as e:
            problems.append(ConfigProblem(dotted(path), str(e), entry, _source_for(path, env_sources, file_source)))
    return problems


def _check_server_access(document, env_sources, file_source) -> list[ConfigProblem]:
    """Allow lists are networks; TLS settings that only work together."""
    server = document["server"]
    problems = []

    def problem(path: tuple, rule: str, value=_MISSING) -> None:
        problems.append(ConfigProblem(dotted(path), rule, value, _source_for(path, env_sources, file_source)))

    for index, network in enumerate(server["allowed_networks"]):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            problem(("server", "allowed_networks", index), "must be an IP address or a CIDR network (e.g. 10.0.0.0/8)", network)
    tls = server["tls"]
    if not tls["certificate"]:
        for key in ("private_key", "client_ca"):
            if tls[key]:
                problem(("server", "tls", key), "needs server.tls.certificate (TLS is off without it)", tls[key])
        if tls["client_certificates"] != "none":
            problem(("server", "tls", "client_certificates"), "needs server.tls.certificate (TLS is off without it)",
                    tls["client_certificates"])
    elif tls["client_certificates"] != "none" and not tls["client_ca"]:
        problem(("server", "tls", "client_ca"), f"is required when client_certificates is {tls['client_certificates']}")
    if tls["client_identities"] and tls["client_certificates"] == "none":
        problem(("server", "tls", "client_identities"), "needs client_certificates optional or required",
                tls["client_certificates"])
    return problems


def _check_networks(document, env_sources, file_source) -> list[ConfigProblem]:
    """``streams.allowed_networks`` holds CIDR blocks."""
    problems = []
    for index, text in enumerate(document["streams"]["allowed_networks"]):
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            problems.append(ConfigProblem(
                f"streams.allowed_networks[{index}]", "must be a CIDR block such as 192.168.1.0/24", text,
                _source_for(("streams", "allowed_networks"), env_sources, file_source),
            ))
    return problems


def _default_data_dir(environ: Mapping[str, str], euid: int) -> Path:
    if euid == 0:
        return Path("/var/lib/camservice")
    xdg = environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path(environ.get("HOME") or os.path.expanduser("~")) / ".local" / "share"
    return base / "camservice"


def _resolve_paths(document: dict, base: Path, environ: Mapping[str, str], euid: int) -> None:
    """Make every path absolute; relative ones are relative to the file."""

    def absolute(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p).resolve()

    data_dir = absolute(document["data_dir"]) if document["data_dir"] else _default_data_dir(environ, euid)
    document["data_dir"] = data_dir
    auth = document["auth"]
    auth["jwt_secret_file"] = (
        absolute(auth["jwt_secret_file"]) if auth["jwt_secret_file"] else data_dir / "jwt-secret"
    )
    auth["api_keys_file"] = (
        absolute(auth["api_keys_file"]) if auth["api_keys_file"] else data_dir / "api-keys.json"
    )
    tls = document["server"]["tls"]
    for key in ("certificate", "private_key", "client_ca"):
        if tls[key]:
            tls[key] = absolute(tls[key])
    logging = document["logging"]
    if logging["file"]:
        logging["file"] = absolute(logging["file"])
    manhole = document["manhole"]
    for key, default in (("authorized_keys_file", "manhole-authorized-keys"), ("host_key_file", "manhole-host-key")):
        manhole[key] = absolute(manhole[key]) if manhole[key] else data_dir / default
    mediamtx = document["mediamtx"]
    mediamtx["api_password_file"] = (
        absolute(mediamtx["api_password_file"]) if mediamtx["api_password_file"] else data_dir / "mediamtx-api-password"
    )
    media = document["media"]
    for key, default in (("recordings_dir", "recordings"), ("snapshots_dir", "snapshots")):
        media[key] = absolute(media[key]) if media[key] else data_dir / default
    mqtt = document["mqtt"]
    for section, key in ((mqtt, "password_file"), (mqtt["tls"], "ca_file"), (mqtt["tls"], "cert_file"),
                         (mqtt["tls"], "key_file")):
        if section[key]:
            section[key] = absolute(section[key])
    if mediamtx["binary"] and "/" in mediamtx["binary"]:
        mediamtx["binary"] = str(absolute(mediamtx["binary"]))
