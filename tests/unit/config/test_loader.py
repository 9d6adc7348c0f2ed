"""camservice.config.loader: the packaged default, schema defaults, every
error path, environment overrides, declared camera ids and path defaults.

Every call passes ``environ=`` (and ``euid=`` where the data folder matters)
so the real environment never leaks into a test.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from camservice.config import (
    Config,
    ConfigError,
    ConfigProblem,
    DeclaredCamera,
    default_config_path,
    load_config,
)
from camservice.config.errors import _MISSING
from camservice.config.loader import schema

ROOT = Path(__file__).resolve().parents[3]
USER = 1000  # any non-root euid

SERVER_KEYS = (
    "allowed_networks, allowed_origins, auth_timeout, auto_ping_interval, auto_ping_timeout, host, "
    "max_connections, max_connections_per_address, max_frame_size, max_message_size, max_send_buffer, "
    "metrics_access, open_handshake_timeout, port, rate_limit, request_timeout, shutdown_timeout, tls, "
    "websocket_path"
)
CAMERA_KEYS = "fps, id, kind, name, resolution, url"


# -- helpers ---------------------------------------------------------------


def write(tmp_path: Path, document, name: str = "camservice.yaml") -> Path:
    """A config file holding ``document`` (text is written as is)."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(document, bytes):
        path.write_bytes(document)
    elif isinstance(document, str):
        path.write_text(document)
    else:
        path.write_text(yaml.safe_dump(document))
    return path


def load(path, environ=None, euid=USER, home="/home/tester") -> Config:
    env = {"HOME": home} if environ is None else environ
    return load_config(path, environ=env, euid=euid)


def problems_of(path, environ=None, euid=USER) -> tuple[ConfigProblem, ...]:
    with pytest.raises(ConfigError) as info:
        load(path, environ, euid)
    assert info.value.problems, "ConfigError without problems"
    return info.value.problems


def only_problem(path, environ=None, euid=USER) -> ConfigProblem:
    problems = problems_of(path, environ, euid)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def schema_defaults(node: dict) -> dict:
    """``{dotted key: default}`` for every key of ``node`` that has one."""
    out = {}
    for key, sub in node.get("properties", {}).items():
        if sub.get("type") == "object":
            out.update({f"{key}.{k}": v for k, v in schema_defaults(sub).items()})
        elif "default" in sub:
            out[key] = sub["default"]
    return out


def attribute(config, dotted_key: str):
    value = config
    for part in dotted_key.split("."):
        value = getattr(value, part)
    return value


def virtual(**fields) -> dict:
    return {"kind": "virtual", **fields}


def declared(*cameras, **section) -> dict:
    return {"data_dir": "/srv/cam", "cameras": {"declared": list(cameras), **section}}


# -- the packaged default ------------------------------------------------------


def test_conf_symlink_is_the_packaged_default():
    conf = ROOT / "conf" / "camservice.yaml"
    assert conf.read_bytes() == default_config_path().read_bytes()


def test_packaged_default_is_schema_defaults_plus_one_virtual_camera(tmp_path):
    packaged = load(None)
    from_schema = load(write(tmp_path, ""))

    assert packaged.source == str(default_config_path())
    assert packaged.cameras.declared == (
        DeclaredCamera(
            id="camera1000", kind="virtual", name="Test pattern", resolution="640x480", fps=15, url=None
        ),
    )
    assert from_schema.cameras.declared == ()
    # Apart from the camera (and where it was read from) the packaged file
    # says exactly what the schema's defaults say.
    assert (
        dataclasses.replace(
            packaged,
            source=from_schema.source,
            cameras=dataclasses.replace(packaged.cameras, declared=()),
        )
        == from_schema
    )


def test_empty_file_gives_every_schema_default(tmp_path):
    config = load(write(tmp_path, ""))
    defaults = schema_defaults(schema())
    # the null paths are resolved; they have tests of their own
    resolved = {"data_dir", "auth.jwt_secret_file", "auth.api_keys_file", "mediamtx.api_password_file",
                "manhole.authorized_keys_file", "manhole.host_key_file", "media.recordings_dir",
                "media.snapshots_dir"}
    assert {"server.port", "server.rate_limit.burst", "auth.leeway", "logging.level"} <= set(defaults)
    for key, default in defaults.items():
        if key in resolved:
            continue
        expected = tuple(default) if isinstance(default, list) else default
        assert attribute(config, key) == expected, key
    assert config.server.port == 8002
    assert config.server.allowed_origins == ("*",)
    assert config.auth.jwt_secret is None


def test_partial_file_gets_defaults_for_the_rest(tmp_path):
    config = load(write(tmp_path, {"server": {"port": 9100, "rate_limit": {"burst": 5}}, "logging": {"level": "debug"}}))
    assert config.server.port == 9100
    assert config.server.rate_limit.burst == 5
    assert config.server.rate_limit.requests_per_second == 500
    assert config.server.host == "127.0.0.1"
    assert config.server.websocket_path == "/ws"
    assert config.logging.level == "debug"
    assert config.logging.format == "auto"
    assert config.auth.token_ttl == 86400
    assert config.cameras.max_cameras == 64
    assert config.version == 1


def test_file_without_sections_but_comments_is_all_defaults(tmp_path):
    config = load(write(tmp_path, "# nothing here\n\n"))
    assert config.server.port == 8002
    assert config.source == str(tmp_path / "camservice.yaml")


def test_config_is_frozen(tmp_path):
    config = load(write(tmp_path, {"data_dir": "/srv/cam"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.data_dir = Path("/tmp")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.rate_limit.burst = 1
    # lists become tuples: nothing inside can be changed either
    assert isinstance(config.server.allowed_origins, tuple)
    assert isinstance(config.cameras.declared, tuple)


# -- unknown keys ----------------------------------------------------------


@pytest.mark.parametrize(
    "document, key, value, allowed",
    [
        ({"colour": "red"}, "colour", "red", "auth, cameras, data_dir, discovery, external_streams, logging, manhole, media, mediamtx, mqtt, reload, server, streams, version"),
        ({"server": {"prot": 80}}, "server.prot", 80, SERVER_KEYS),
        ({"server": {"rate_limit": {"rps": 1}}}, "server.rate_limit.rps", 1, "burst, close_after, requests_per_second"),
        (
            {"cameras": {"declared": [virtual(), virtual(colour="red")]}},
            "cameras.declared[1].colour",
            "red",
            CAMERA_KEYS,
        ),
    ],
    ids=["top-level", "section", "nested-section", "declared-camera"],
)
def test_unknown_key_is_an_error_naming_its_path(tmp_path, document, key, value, allowed):
    path = write(tmp_path, document)
    problem = only_problem(path)
    assert problem == ConfigProblem(key, f"is unknown (allowed: {allowed})", value, str(path))
    assert str(problem) == f"{path}: {key} = {value!r}: is unknown (allowed: {allowed})"


def test_every_unknown_key_of_a_section_is_reported(tmp_path):
    path = write(tmp_path, {"server": {"prot": 80, "hots": "0.0.0.0"}})
    keys = {p.key for p in problems_of(path)}
    assert keys == {"server.prot", "server.hots"}


# -- type, range, enum and pattern rules -------------------------------------


RULE_CASES = [
    ("version", 2, "is newer than this camservice reads (at most 1)"),
    ("version", 0, "cannot be migrated: no migration from version 0"),
    ("data_dir", "", "must be at least 1 characters long"),
    ("data_dir", 5, "must be of type string or null"),
    ("server.port", "8002", "must be of type integer"),
    ("server.port", True, "must be of type integer"),
    ("server.port", 80.5, "must be of type integer"),
    ("server.port", -1, "must be at least 0"),
    ("server.port", 65536, "must be at most 65535"),
    ("server.host", "", "must be at least 1 characters long"),
    ("server.websocket_path", "ws", "must match the pattern ^(/[A-Za-z0-9._~-]+)+$"),
    ("server.websocket_path", "/ws/", "must match the pattern ^(/[A-Za-z0-9._~-]+)+$"),
    ("server.max_connections", 0, "must be at least 1"),
    ("server.max_message_size", 1023, "must be at least 1024"),
    ("server.max_frame_size", 16777217, "must be at most 16777216"),
    ("server.auto_ping_interval", -0.5, "must be at least 0"),
    ("server.auto_ping_timeout", 0.5, "must be at least 1"),
    ("server.open_handshake_timeout", 601, "must be at most 600"),
    ("server.shutdown_timeout", "3s", "must be of type number"),
    ("server.allowed_origins", [], "must have at least 1 items"),
    ("server.allowed_origins", "*", "must be of type array"),
    ("server.allowed_origins", ["ok", ""], "must be at least 1 characters long"),
    ("server.rate_limit.requests_per_second", -1, "must be at least 0"),
    ("server.rate_limit.burst", 0, "must be at least 1"),
    ("auth.jwt_secret", "too-short", "must be at least 32 characters long"),
    ("auth.jwt_secret", 12345, "must be of type string or null"),
    ("auth.token_ttl", 0, "must be at least 1"),
    ("auth.token_ttl", 31536001, "must be at most 31536000"),
    ("auth.leeway", 301, "must be at most 300"),
    ("logging.level", "verbose", "must be one of: debug, info, warn, error, critical"),
    ("logging.format", "xml", "must be one of: auto, json, text"),
    ("logging.max_size", -1, "must be at least 0"),
    ("logging.total_size", 1000, "must be at least 65536"),
    ("logging.keep", 0, "must be at least 1"),
    ("manhole.host", "0.0.0.0", "must be one of: 127.0.0.1, ::1"),
    ("manhole.host", "192.0.2.7", "must be one of: 127.0.0.1, ::1"),
    ("manhole.port", 65536, "must be at most 65535"),
    ("manhole.enabled", "yes", "must be of type boolean"),
    ("cameras.max_cameras", 0, "must be at least 1"),
    ("cameras.max_cameras", 1025, "must be at most 1024"),
]


def _nest(dotted_key: str, value) -> dict:
    document: dict = {}
    node = document
    *parents, last = dotted_key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return document


@pytest.mark.parametrize("key, value, rule", RULE_CASES, ids=[f"{k}={v!r}" for k, v, _ in RULE_CASES])
def test_each_rule_names_key_value_and_rule(tmp_path, key, value, rule):
    document = _nest(key, value)
    document.setdefault("data_dir", "/srv/cam")
    path = write(tmp_path, document)
    problem = only_problem(path)
    # a list item's rule is reported on the item
    expected_key = "server.allowed_origins[1]" if value == ["ok", ""] else key
    expected_value = "" if value == ["ok", ""] else value
    assert (problem.key, problem.value, problem.rule, problem.source) == (expected_key, expected_value, rule, str(path))
    assert str(problem) == f"{path}: {expected_key} = {expected_value!r}: {rule}"


CAMERA_RULE_CASES = [
    (virtual(kind="usb"), "kind", "usb", "must be one of: virtual, network"),
    (virtual(id="cam7"), "id", "cam7", "must match the pattern ^camera[0-9]+$"),
    (virtual(resolution="640*480"), "resolution", "640*480", "must match the pattern ^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$"),
    (virtual(fps=0), "fps", 0, "must be at least 1"),
    (virtual(fps=241), "fps", 241, "must be at most 240"),
    (virtual(name=""), "name", "", "must be at least 1 characters long"),
    # patterns match the whole value: a trailing newline is not accepted
    (virtual(id="camera1000\n"), "id", "camera1000\n", "must match the pattern ^camera[0-9]+$"),
    (virtual(resolution="640x480\n"), "resolution", "640x480\n",
     "must match the pattern ^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$"),
]

URL_RULE_CASES = [
    ("ftp://192.0.2.1/x", "must use one of the schemes rtsp, rtsps, rtmp, rtmps, srt, http, https"),
    ("rtsp://192.0.2.1/x\n", "must not contain whitespace, control or non-ASCII characters"),
    ("rtsp://192.0.2.1/a b", "must not contain whitespace, control or non-ASCII characters"),
    ("rtsp://192.0.2.1/%zz", "has an invalid percent escape (a % must be followed by two hex digits)"),
    ("rtsp://192.0.2.1:99999/x", "must have a port from 1 to 65535"),
    ("rtsp:///x", "must name a host"),
    ("srt://192.0.2.1", "must give a port for srt"),
]


@pytest.mark.parametrize("url, rule", URL_RULE_CASES, ids=[repr(u) for u, _ in URL_RULE_CASES])
def test_stream_urls_in_the_config_follow_the_url_rules(tmp_path, url, rule):
    """Declared network cameras and discovery candidates: the problem names
    the rule and leaves the URL out (it may hold a password)."""
    problem = only_problem(write(tmp_path, declared(virtual(), {"kind": "network", "url": url})))
    assert (problem.key, problem.rule, problem.value) == ("cameras.declared[1].url", rule, _MISSING)
    problem = only_problem(write(tmp_path, {"external_streams": {"candidates": [url]}}))
    assert (problem.key, problem.rule, problem.value) == ("external_streams.candidates[0]", rule, _MISSING)


def test_allowed_targets_entries_are_checked(tmp_path):
    good = ["127.0.0.1", "127.0.0.1:8554", "[::1]:554", "10.0.0.0/8", "cam.example", "cam.example:554"]
    config = load_config(write(tmp_path, {"external_streams": {"allowed_targets": good}}))
    assert config.external_streams.allowed_targets == tuple(good)
    problem = only_problem(write(tmp_path, {"external_streams": {"allowed_targets": ["127.0.0.1:0"]}}))
    assert (problem.key, problem.rule) == ("external_streams.allowed_targets[0]", "has a port that is not from 1 to 65535")
    problem = only_problem(write(tmp_path, {"external_streams": {"allowed_targets": ["10.0.0.0/33"]}}))
    assert problem.rule == "is not a valid CIDR network"


@pytest.mark.parametrize(
    "camera, field, value, rule", CAMERA_RULE_CASES, ids=[f"{f}={v!r}" for _, f, v, _ in CAMERA_RULE_CASES]
)
def test_declared_camera_rules_name_the_item(tmp_path, camera, field, value, rule):
    path = write(tmp_path, declared(virtual(), camera))
    problem = only_problem(path)
    key = f"cameras.declared[1].{field}"
    assert (problem.key, problem.value, problem.rule) == (key, value, rule)
    assert str(problem) == f"{path}: {key} = {value!r}: {rule}"


def test_long_values_are_shortened_in_the_message(tmp_path):
    name = "x" * 200
    path = write(tmp_path, declared(virtual(name=name)))
    problem = only_problem(path)
    assert problem.value == name  # the full value is kept
    text = str(problem)
    assert text.startswith(f"{path}: cameras.declared[0].name = '{'x' * 76}...: ")
    assert text.endswith(": must be at most 128 characters long")
    assert len(text) < len(str(path)) + 160


def test_all_problems_are_reported_at_once_in_key_order(tmp_path):
    path = write(
        tmp_path,
        {"logging": {"level": "loud"}, "server": {"port": 70000}, "auth": {"leeway": -1}},
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    assert [p.key for p in info.value.problems] == ["auth.leeway", "logging.level", "server.port"]
    assert info.value.lines() == [str(p) for p in info.value.problems]
    assert str(info.value) == "; ".join(info.value.lines())


# -- unreadable files ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, where, problem",
    [
        ("server: [1, 2\n", "line 2, column 1", "expected ',' or ']'"),
        ("server:\n  port: 1\n   host: x\n", "line 3, column 8", "mapping values are not allowed here"),
        ("\tserver: {}\n", "line 1, column 1", "cannot start any token"),
    ],
)
def test_yaml_syntax_error_gives_line_and_column(tmp_path, text, where, problem):
    path = write(tmp_path, text)
    found = only_problem(path)
    assert found.key == ""
    assert found.source == str(path)
    assert f"{where}: invalid YAML: " in found.rule
    assert problem in found.rule
    assert str(found).startswith(f"{path}: (top level): {where}: invalid YAML")


@pytest.mark.parametrize("text, value", [("- a\n- b\n", ["a", "b"]), ("42\n", 42), ("just words\n", "just words")])
def test_file_that_is_not_a_mapping_is_refused(tmp_path, text, value):
    path = write(tmp_path, text)
    problem = only_problem(path)
    assert problem == ConfigProblem("", "the file must hold a mapping of sections", value, str(path))
    assert str(problem) == f"{path}: (top level) = {value!r}: the file must hold a mapping of sections"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    problem = only_problem(path)
    assert problem.source == str(path)
    assert problem.rule == "cannot read the config file: No such file or directory"
    assert str(problem) == f"{path}: (top level): cannot read the config file: No such file or directory"


def test_unreadable_file(tmp_path):
    # chmod 000 does not stop root, so use a path no one can read as a file
    path = tmp_path / "camservice.yaml"
    path.mkdir()
    problem = only_problem(path)
    assert problem.source == str(path)
    assert problem.rule == "cannot read the config file: Is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission(tmp_path):
    path = write(tmp_path, {"server": {"port": 1}})
    path.chmod(0)
    try:
        problem = only_problem(path)
    finally:
        path.chmod(0o600)
    assert problem.rule == "cannot read the config file: Permission denied"


@pytest.mark.parametrize("data", [b"server:\n  host: caf\xe9\n", b"\xff\xfeserver: {}\n"])
def test_non_utf8_file(tmp_path, data):
    path = write(tmp_path, data)
    problem = only_problem(path)
    assert problem == ConfigProblem("", "the config file is not UTF-8 text", source=str(path))
    assert str(problem) == f"{path}: (top level): the config file is not UTF-8 text"


# -- environment overrides -----------------------------------------------------


@pytest.mark.parametrize(
    "variable, raw, key, expected",
    [
        ("CAMSERVICE_SERVER__PORT", "9000", "server.port", 9000),
        ("CAMSERVICE_SERVER__AUTO_PING_INTERVAL", "2.5", "server.auto_ping_interval", 2.5),
        ("CAMSERVICE_AUTH__LEEWAY", "0", "auth.leeway", 0),
        ("CAMSERVICE_LOGGING__LEVEL", "debug", "logging.level", "debug"),
        # strings are taken as they are, never parsed as YAML
        ("CAMSERVICE_SERVER__HOST", "0x10", "server.host", "0x10"),
        ("CAMSERVICE_SERVER__HOST", "null", "server.host", "null"),
        ("CAMSERVICE_AUTH__JWT_SECRET", "1234567890" * 4, "auth.jwt_secret", "1234567890" * 4),
        # nullable strings: "" and "null" mean null
        ("CAMSERVICE_AUTH__JWT_SECRET", "", "auth.jwt_secret", None),
        ("CAMSERVICE_AUTH__JWT_SECRET", "null", "auth.jwt_secret", None),
        # lists as JSON
        ("CAMSERVICE_SERVER__ALLOWED_ORIGINS", '["a"]', "server.allowed_origins", ("a",)),
        (
            "CAMSERVICE_SERVER__ALLOWED_ORIGINS",
            '["https://app.example", "http://*.local"]',
            "server.allowed_origins",
            ("https://app.example", "http://*.local"),
        ),
        # a nested section's key
        ("CAMSERVICE_SERVER__RATE_LIMIT__BURST", "5", "server.rate_limit.burst", 5),
        ("CAMSERVICE_SERVER__RATE_LIMIT__REQUESTS_PER_SECOND", "0.5", "server.rate_limit.requests_per_second", 0.5),
        # a top-level key
        ("CAMSERVICE_DATA_DIR", "/srv/camservice", "data_dir", Path("/srv/camservice")),
        ("CAMSERVICE_VERSION", "1", "version", 1),
    ],
)
def test_env_override_is_coerced_to_the_schema_type(tmp_path, variable, raw, key, expected):
    config = load(write(tmp_path, {"data_dir": "/srv/cam"}), {variable: raw})
    value = attribute(config, key)
    assert value == expected
    assert type(value) is type(expected)


def test_env_override_beats_the_file_and_even_fixes_it(tmp_path):
    path = write(tmp_path, {"data_dir": "/srv/cam", "server": {"port": 70000, "host": "0.0.0.0"}})
    config = load(path, {"CAMSERVICE_SERVER__PORT": "9001", "HOME": "/home/x"})
    assert config.server.port == 9001
    assert config.server.host == "0.0.0.0"  # untouched by the override


def test_env_data_dir_null_falls_back_to_the_default(tmp_path):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    config = load(path, {"CAMSERVICE_DATA_DIR": "", "XDG_DATA_HOME": "/xdg"})
    assert config.data_dir == Path("/xdg/camservice")


def test_env_override_of_declared_cameras_as_json(tmp_path):
    config = load(
        write(tmp_path, {"data_dir": "/srv/cam"}),
        {"CAMSERVICE_CAMERAS__DECLARED": '[{"kind": "network", "url": "rtsp://192.0.2.10/s"}]'},
    )
    assert config.cameras.declared == (
        DeclaredCamera(
            id="camera1000", kind="network", name="Network camera 1000",
            resolution="640x480", fps=15, url="rtsp://192.0.2.10/s",
        ),
    )


def test_variables_without_the_prefix_are_ignored(tmp_path):
    config = load(write(tmp_path, {"data_dir": "/srv/cam"}), {"SERVER__PORT": "1", "camservice_server__port": "2"})
    assert config.server.port == 8002


@pytest.mark.parametrize(
    "variable, raw, rule",
    [
        # YAML's "yes"/"true" are booleans, and the schema has no boolean key
        ("CAMSERVICE_SERVER__PORT", "true", "must be of type integer"),
        ("CAMSERVICE_SERVER__PORT", "yes", "must be of type integer"),
        ("CAMSERVICE_SERVER__PORT", "abc", "must be of type integer"),
        ("CAMSERVICE_SERVER__PORT", "99999", "must be at most 65535"),
        ("CAMSERVICE_SERVER__AUTO_PING_TIMEOUT", "0", "must be at least 1"),
        ("CAMSERVICE_LOGGING__LEVEL", "DEBUG", "must be one of: debug, info, warn, error, critical"),
        ("CAMSERVICE_SERVER__ALLOWED_ORIGINS", "", "must have at least 1 items"),
        # "" is null only where the schema allows null
        ("CAMSERVICE_SERVER__PORT", "", "must be of type integer"),
    ],
)
def test_bad_override_value_names_the_variable_as_source(tmp_path, variable, raw, rule):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    problem = only_problem(path, {variable: raw})
    key = variable[len("CAMSERVICE_"):].lower().replace("__", ".")
    assert problem.source == variable
    assert problem.key == key
    assert problem.rule == rule
    assert str(problem).startswith(f"{variable}: {key} = ")
    assert str(problem).endswith(f": {rule}")


def test_bad_override_inside_declared_cameras_names_the_variable(tmp_path):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    problem = only_problem(path, {"CAMSERVICE_CAMERAS__DECLARED": '[{"kind": "virtual", "fps": 0}]'})
    assert str(problem) == "CAMSERVICE_CAMERAS__DECLARED: cameras.declared[0].fps = 0: must be at least 1"


def test_override_and_file_problems_each_name_their_source(tmp_path):
    path = write(tmp_path, {"data_dir": "/srv/cam", "logging": {"level": "loud"}})
    problems = problems_of(path, {"CAMSERVICE_SERVER__PORT": "-5"})
    assert {(p.key, p.source) for p in problems} == {
        ("logging.level", str(path)),
        ("server.port", "CAMSERVICE_SERVER__PORT"),
    }


def test_unparseable_override_value(tmp_path):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    problem = only_problem(path, {"CAMSERVICE_SERVER__ALLOWED_ORIGINS": '["a", '})
    assert str(problem) == (
        "CAMSERVICE_SERVER__ALLOWED_ORIGINS: server.allowed_origins = '[\"a\", ': is not a valid YAML or JSON value"
    )


@pytest.mark.parametrize(
    "variable, key",
    [
        ("CAMSERVICE_SERVER__PROT", "server.prot"),
        ("CAMSERVICE_COLOUR", "colour"),
        ("CAMSERVICE_SERVER__PORT__X", "server.port.x"),
        ("CAMSERVICE_SERVER_PORT", "server_port"),
    ],
)
def test_unknown_override_key(tmp_path, variable, key):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    problem = only_problem(path, {variable: "1"})
    assert problem == ConfigProblem(key, "unknown key", "1", variable)
    assert str(problem) == f"{variable}: {key} = '1': unknown key"


@pytest.mark.parametrize(
    "variable, key",
    [("CAMSERVICE_SERVER", "server"), ("CAMSERVICE_SERVER__RATE_LIMIT", "server.rate_limit"), ("CAMSERVICE_AUTH", "auth")],
)
def test_overriding_a_whole_section_is_refused(tmp_path, variable, key):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    problem = only_problem(path, {variable: '{"port": 9000}'})
    assert problem == ConfigProblem(key, "is a section; override its keys one by one", '{"port": 9000}', variable)


def test_every_bad_override_is_reported(tmp_path):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    problems = problems_of(path, {"CAMSERVICE_NOPE": "1", "CAMSERVICE_LOGGING": "{}", "CAMSERVICE_CAMERAS__DECLARED": "[{"})
    assert sorted(p.source for p in problems) == ["CAMSERVICE_CAMERAS__DECLARED", "CAMSERVICE_LOGGING", "CAMSERVICE_NOPE"]


# -- declared cameras ------------------------------------------------------------


@pytest.mark.parametrize("camera_id", ["camera0", "camera7", "camera255", "camera0255"])
def test_usb_ids_are_reserved(tmp_path, camera_id):
    path = write(tmp_path, declared(virtual(id=camera_id)))
    problem = only_problem(path)
    assert problem == ConfigProblem(
        "cameras.declared[0].id", "camera0..camera255 are reserved for /dev/video0..255", camera_id, str(path)
    )


def test_first_id_after_the_usb_range_is_allowed(tmp_path):
    config = load(write(tmp_path, declared(virtual(id="camera256"))))
    assert [c.id for c in config.cameras.declared] == ["camera256"]


def test_duplicate_ids_are_refused(tmp_path):
    path = write(tmp_path, declared(virtual(id="camera1000"), virtual(id="camera2000"), virtual(id="camera1000")))
    problem = only_problem(path)
    assert str(problem) == f"{path}: cameras.declared[2].id = 'camera1000': is already used by cameras.declared[0]"


def test_missing_ids_are_assigned_from_1000_skipping_taken_ones(tmp_path):
    config = load(
        write(
            tmp_path,
            declared(
                virtual(),
                virtual(id="camera1001"),
                virtual(),
                virtual(id="camera1002"),  # taken although declared later
                {"kind": "network", "url": "rtsp://192.0.2.10/s"},
                virtual(name="Lobby"),
            ),
        )
    )
    cams = config.cameras.declared
    assert [c.id for c in cams] == ["camera1000", "camera1001", "camera1003", "camera1002", "camera1004", "camera1005"]
    assert [c.name for c in cams] == [
        "Virtual camera 1000",
        "Virtual camera 1001",
        "Virtual camera 1003",
        "Virtual camera 1002",
        "Network camera 1004",
        "Lobby",
    ]
    assert cams[0] == DeclaredCamera(id="camera1000", kind="virtual", name="Virtual camera 1000", resolution="640x480", fps=15)
    assert cams[4].url == "rtsp://192.0.2.10/s"


def test_network_camera_needs_a_url(tmp_path):
    path = write(tmp_path, declared({"kind": "network", "name": "Gate"}))
    problem = only_problem(path)
    assert str(problem) == f"{path}: cameras.declared[0].url: is required"


def test_virtual_camera_must_not_have_a_url(tmp_path):
    path = write(tmp_path, declared(virtual(url="rtsp://192.0.2.10/s")))
    problem = only_problem(path)
    assert str(problem) == f"{path}: cameras.declared[0].url = 'rtsp://192.0.2.10/s': is only allowed for kind: network"


def test_camera_without_kind_only_reports_the_kind(tmp_path):
    path = write(tmp_path, declared({"name": "Lobby"}))
    assert [str(p) for p in problems_of(path)] == [f"{path}: cameras.declared[0].kind: is required"]


def test_more_cameras_than_max_cameras_is_refused(tmp_path):
    path = write(tmp_path, declared(virtual(), virtual(), virtual(), max_cameras=2))
    problem = only_problem(path)
    assert str(problem) == f"{path}: cameras.declared: declares 3 cameras, more than cameras.max_cameras (2)"


def test_exactly_max_cameras_is_fine(tmp_path):
    config = load(write(tmp_path, declared(virtual(), virtual(), max_cameras=2)))
    assert len(config.cameras.declared) == 2


def test_id_problems_are_reported_together(tmp_path):
    path = write(tmp_path, declared(virtual(id="camera3"), virtual(id="camera1000"), virtual(id="camera1000"), max_cameras=2))
    assert sorted(p.key for p in problems_of(path)) == [
        "cameras.declared",
        "cameras.declared[0].id",
        "cameras.declared[2].id",
    ]


# -- data_dir and file paths -------------------------------------------------------


def test_data_dir_as_root_is_var_lib(tmp_path):
    path = write(tmp_path, {})
    config = load(path, {"HOME": "/root", "XDG_DATA_HOME": "/xdg"}, euid=0)
    assert config.data_dir == Path("/var/lib/camservice")
    assert config.auth.jwt_secret_file == Path("/var/lib/camservice/jwt-secret")
    assert config.auth.api_keys_file == Path("/var/lib/camservice/api-keys.json")


def test_data_dir_for_a_user_follows_xdg_data_home(tmp_path):
    config = load(write(tmp_path, {}), {"HOME": "/home/u", "XDG_DATA_HOME": "/xdg/data"}, euid=USER)
    assert config.data_dir == Path("/xdg/data/camservice")


@pytest.mark.parametrize("environ", [{"HOME": "/home/u"}, {"HOME": "/home/u", "XDG_DATA_HOME": ""}])
def test_data_dir_for_a_user_without_xdg_is_under_home(tmp_path, environ):
    config = load(write(tmp_path, {}), environ, euid=USER)
    assert config.data_dir == Path("/home/u/.local/share/camservice")
    assert config.auth.jwt_secret_file == Path("/home/u/.local/share/camservice/jwt-secret")
    assert config.auth.api_keys_file == Path("/home/u/.local/share/camservice/api-keys.json")


def test_explicit_data_dir_wins_for_root_too(tmp_path):
    config = load(write(tmp_path, {"data_dir": "/srv/cam"}), {}, euid=0)
    assert config.data_dir == Path("/srv/cam")
    assert config.auth.jwt_secret_file == Path("/srv/cam/jwt-secret")
    assert config.auth.api_keys_file == Path("/srv/cam/api-keys.json")


def test_relative_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(
        tmp_path,
        {
            "data_dir": "state",
            "auth": {"jwt_secret_file": "secrets/jwt", "api_keys_file": "../keys.json"},
        },
        name="etc/camservice.yaml",
    )
    config = load(path)
    etc = (tmp_path / "etc").resolve()
    assert config.data_dir == etc / "state"
    assert config.auth.jwt_secret_file == etc / "secrets" / "jwt"
    assert config.auth.api_keys_file == tmp_path.resolve() / "keys.json"
    assert config.data_dir.is_absolute()


def test_relative_data_dir_from_env_is_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    path = write(tmp_path, {}, name="etc/camservice.yaml")
    config = load(path, {"CAMSERVICE_DATA_DIR": "var"})
    assert config.data_dir == (tmp_path / "etc").resolve() / "var"
    assert config.auth.api_keys_file == (tmp_path / "etc").resolve() / "var" / "api-keys.json"


def test_absolute_secret_and_key_files_are_kept(tmp_path):
    config = load(
        write(tmp_path, {"data_dir": "/srv/cam", "auth": {"jwt_secret_file": "/etc/cam/jwt", "api_keys_file": "/etc/cam/keys"}})
    )
    assert config.auth.jwt_secret_file == Path("/etc/cam/jwt")
    assert config.auth.api_keys_file == Path("/etc/cam/keys")
    assert isinstance(config.auth.jwt_secret_file, Path)


def test_log_file_and_manhole_paths_resolve(tmp_path):
    config = load(write(tmp_path, {"data_dir": "/srv/cam", "logging": {"file": "logs/cam.log"}}))
    assert config.logging.file == tmp_path.resolve() / "logs" / "cam.log"
    assert config.manhole.authorized_keys_file == Path("/srv/cam/manhole-authorized-keys")
    assert config.manhole.host_key_file == Path("/srv/cam/manhole-host-key")
    assert config.manhole.enabled is False and config.manhole.host == "127.0.0.1"
    assert load(write(tmp_path, {})).logging.file is None


def test_manhole_refuses_every_address_beyond_loopback_from_the_environment(tmp_path):
    path = write(tmp_path, {"data_dir": "/srv/cam"})
    problem = only_problem(path, environ={"CAMSERVICE_MANHOLE__HOST": "0.0.0.0"})
    assert problem.key == "manhole.host" and problem.source == "CAMSERVICE_MANHOLE__HOST"


# -- streams -------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("true", True), ("False", False), ("auto", "auto"), ("on", True)])
def test_signed_urls_from_the_environment_is_a_boolean_or_auto(tmp_path, text, value):
    config = load(write(tmp_path, ""), environ={"HOME": "/home/tester", "CAMSERVICE_STREAMS__SIGNED_URLS": text})
    assert config.streams.signed_urls == value


def test_signed_urls_refuses_other_words(tmp_path):
    problem = only_problem(write(tmp_path, {"streams": {"signed_urls": "sometimes"}}))
    assert problem.key == "streams.signed_urls"


def test_allowed_networks_must_be_cidr_blocks(tmp_path):
    problem = only_problem(write(tmp_path, {"streams": {"allowed_networks": ["192.168.1.0/24", "lan"]}}))
    assert problem.key == "streams.allowed_networks[1]"
    assert problem.rule == "must be a CIDR block such as 192.168.1.0/24"
    config = load(write(tmp_path, {"streams": {"allowed_networks": ["192.168.1.0/24", "::1"]}}))
    assert config.streams.allowed_networks == ("192.168.1.0/24", "::1")


def test_media_origins_may_not_be_wildcards(tmp_path):
    problem = only_problem(write(tmp_path, {"streams": {"allowed_origins": ["*"]}}))
    assert problem.key == "streams.allowed_origins[0]"


def test_the_api_password_file_defaults_to_the_data_folder(tmp_path):
    config = load(write(tmp_path, {"data_dir": str(tmp_path / "d")}))
    assert config.mediamtx.api_password_file == tmp_path / "d" / "mediamtx-api-password"
    assert config.mediamtx.api_user == "camservice"


def test_media_folders_default_to_the_data_folder(tmp_path):
    config = load(write(tmp_path, {"data_dir": str(tmp_path / "d")}))
    assert config.media.recordings_dir == tmp_path / "d" / "recordings"
    assert config.media.snapshots_dir == tmp_path / "d" / "snapshots"


def test_relative_media_folders_are_relative_to_the_file(tmp_path):
    config = load(write(tmp_path, {"media": {"recordings_dir": "rec", "snapshots_dir": "/srv/snaps"}}))
    assert config.media.recordings_dir == tmp_path / "rec"
    assert config.media.snapshots_dir == Path("/srv/snaps")


def test_media_thresholds_are_checked(tmp_path):
    problem = only_problem(write(tmp_path, {"media": {"storage": {"block_percent": 120}}}))
    assert problem.key == "media.storage.block_percent"
    problem = only_problem(write(tmp_path, {"media": {"retention": {"policy_type": "forever"}}}))
    assert problem.key == "media.retention.policy_type"
