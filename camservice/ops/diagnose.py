"""``camservice-admin diagnose``: what a maintainer asks for first, in one
report.

The static part (versions, the effective config with its secrets taken
out, the data folder, the log file) needs nothing running. The live part
comes from the running service through its own API on loopback, with an
admin token minted from the shared secret: health, status and breaker,
cameras with their probe results, MediaMTX paths, streams, recent error
events, and resource use. Every string of the report passes through
:func:`camservice.security.redact.redact_text`, and the JWT secret is
blanked wherever it would appear.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections import deque
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.internet.error import ConnectError
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from camservice import __version__
from camservice.errors import StartupError
from camservice.config.model import Config
from camservice.ops.logfile import rotated_files
from camservice.security.redact import REDACTED, redact_text
from camservice.timeutil import iso_timestamp

__all__ = ["Report", "collect_live", "collect_static", "redacted_config", "render_text", "write_archive"]

#: Key names whose values are secrets (paths to them are not: ``*_file``).
_SECRET_NAME = re.compile(r"(?i)(secret|password|passwd|passphrase|token|key|credential)")
_PATH_NAME = re.compile(r"(?i)_(file|dir|path)$")
#: What a request to a service that is down or hung fails with.
_UNREACHABLE = (ConnectError, OSError, defer.TimeoutError, defer.CancelledError, ResponseFailed, ResponseNeverReceived)
#: Lines of the log file's tail put in the archive.
LOG_TAIL_LINES = 500


def _is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _PATH_NAME.search(name)


def scrub(value: Any, secrets: tuple[str, ...] = (), name: str = "") -> Any:
    """``value`` (JSON-like) with secrets out: values of secret-named keys
    blanked, credentials in URLs taken out, and each of ``secrets`` replaced
    wherever it appears."""
    if isinstance(value, dict):
        return {k: scrub(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets, name) for v in value]
    if isinstance(value, str):
        if value and name and _is_secret_name(name):
            return REDACTED
        return scrub_text(value, secrets)
    return value


def scrub_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with URL credentials and each of ``secrets`` taken out."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return redact_text(text)


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def redacted_config(config: Config, secrets: tuple[str, ...] = ()) -> dict:
    """The effective configuration (file, environment and defaults) as a
    mapping, secrets blanked."""
    return scrub(_plain(dataclasses.asdict(config)), secrets)


def _first_line(argv: list[str], timeout: float = 10.0) -> Optional[str]:
    """The first output line of a version command, or ``None`` when it
    cannot run. Blocking: only for the command line tool."""
    found = shutil.which(argv[0])
    if found is None:
        return None
    argv = [found] + argv[1:]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (done.stdout or done.stderr).decode("utf-8", "replace").strip().splitlines()
    return out[0] if out else None


def _dist_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions(config: Config) -> dict:
    """camservice, Python, its libraries, MediaMTX, FFmpeg and v4l2-ctl."""
    import autobahn
    import twisted

    from camservice.codec import CODEC
    from camservice.mediamtx.binary import find_mediamtx

    try:
        mediamtx_binary, mediamtx_version = find_mediamtx(config.mediamtx.binary)
    except StartupError as e:
        mediamtx_binary, mediamtx_version = None, f"not found: {e}"
    return {
        "camservice": __version__,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "twisted": twisted.__version__,
        "autobahn": autobahn.__version__,
        "treq": _dist_version("treq"),
        "pyudev": _dist_version("pyudev"),
        "jsonschema": _dist_version("jsonschema"),
        "pyjwt": _dist_version("PyJWT"),
        "prometheus_client": _dist_version("prometheus_client") or _dist_version("prometheus-client"),
        "pyyaml": _dist_version("PyYAML"),
        "json_codec": CODEC,
        "mediamtx": mediamtx_version,
        "mediamtx_binary": mediamtx_binary,
        "ffmpeg": _first_line([config.mediamtx.ffmpeg, "-version"]),
        "ffprobe": _first_line([config.external_streams.ffprobe, "-version"]),
        "v4l2_ctl": _first_line([config.discovery.v4l2_ctl, "--version"]),
    }


def data_folder(config: Config, limit: int = 200) -> dict:
    """Names, sizes and modes in the data folder (never contents)."""
    root = config.data_dir
    entries = []
    try:
        with os.scandir(root) as it:
            for entry in sorted(it, key=lambda e: e.name)[:limit]:
                st = entry.stat(follow_symlinks=False)
                entries.append({
                    "name": entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""),
                    "bytes": st.st_size,
                    "mode": oct(st.st_mode & 0o7777),
                })
    except FileNotFoundError:
        return {"path": str(root), "exists": False, "entries": []}
    except PermissionError as e:
        return {"path": str(root), "exists": True, "error": e.strerror, "entries": []}
    return {"path": str(root), "exists": True, "entries": entries}


def log_file(config: Config, secrets: tuple[str, ...] = ()) -> dict:
    """The log file: where, how big, its rotated files and its last lines."""
    path = config.logging.file
    if path is None:
        return {"configured": False}
    info: dict = {"configured": True, "path": str(path)}
    try:
        info["bytes"] = path.stat().st_size
        with open(path, "rb") as f:
            tail = deque(f, maxlen=LOG_TAIL_LINES)
        info["tail"] = [scrub_text(line.decode("utf-8", "replace").rstrip("\n"), secrets) for line in tail]
    except OSError as e:
        info["error"] = e.strerror
        info["tail"] = []
    rotated = rotated_files(path)
    info["rotated"] = [{"name": p.name, "bytes": p.stat().st_size} for p in rotated if p.exists()]
    return info


@dataclasses.dataclass
class Report:
    """Everything ``diagnose`` found.

    :ivar sections: section name -> JSON-able content, in report order.
    :ivar prometheus: the ``/metrics`` text, when the service answered.
    """

    sections: dict = dataclasses.field(default_factory=dict)
    prometheus: Optional[str] = None


def collect_static(config: Config, secrets: tuple[str, ...] = ()) -> Report:
    """The parts that need nothing running (blocking: runs version commands)."""
    report = Report()
    report.sections["generated"] = {"at": iso_timestamp(time.time()), "config_file": config.source}
    report.sections["versions"] = versions(config)
    report.sections["config"] = redacted_config(config, secrets)
    report.sections["data_dir"] = data_folder(config)
    report.sections["log_file"] = log_file(config, secrets)
    return report


def _loopback(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def collect_live(
    reactor, config: Config, token: str, report: Report, secrets: tuple[str, ...] = (), timeout: float = 10.0,
    http_get: Optional[Callable] = None,
) -> bool:
    """Add the running service's parts to ``report``.

    :param token: an admin JWT, or ``None`` when the secret cannot be
        read (then only the HTTP endpoints are asked).
    :param http_get: ``http_get(url) -> Deferred[(code, body bytes)]``
        (default: treq with ``timeout``).
    :returns: whether the service answered; when it did not, the
        ``service`` section says why.
    """
    # camctl's connection to the API: the same client, not a second one
    from camservice.cli.client import ApiClient
    from camservice.cli.exits import CliError as ApiCallFailed
    from camservice.cli.target import Target, parse_url

    get = http_get or _treq_get(reactor, timeout)
    host = _url_host(_loopback(config.server.host))
    base = f"http://{host}:{config.server.port}"
    service: dict = {"api": f"ws://{host}:{config.server.port}{config.server.websocket_path}"}
    report.sections["service"] = service
    try:
        code, body = await get(base + "/health/alive")
    except _UNREACHABLE as e:  # refused, timed out: the service is not running
        service.update(running=False, reason=f"{base}/health/alive: {_reason(e)}")
        return False
    service["running"] = True
    health = {"alive": _json_or_text(code, body)}
    for check in ("ready", "cameras", "mediamtx"):
        try:
            code, body = await get(f"{base}/health/{check}")
            health[check] = _json_or_text(code, body)
        except _UNREACHABLE as e:
            health[check] = {"error": _reason(e)}
    report.sections["health"] = scrub(health, secrets)
    try:
        code, body = await get(base + "/metrics")
        report.prometheus = scrub_text(body.decode("utf-8", "replace"), secrets) if code == 200 else None
    except _UNREACHABLE as e:
        service["metrics_error"] = _reason(e)

    if token is None:
        service["api_error"] = "no admin token: the JWT secret cannot be read"
        return True
    api_host, api_port, secure = parse_url(service["api"])
    client = ApiClient(reactor, Target(service["api"], api_host, api_port, secure, timeout=timeout))
    try:
        await client.connect()
        await client.call("authenticate", {"auth_token": token})
    except ApiCallFailed as e:
        service["api_error"] = str(e)
        return True

    async def call(section: str, method: str, params: Optional[dict] = None) -> Any:
        try:
            result = await client.call(method, params)
        except ApiCallFailed as e:
            result = {"error": str(e)}
        report.sections[section] = scrub(result, secrets)
        return result

    try:
        await call("status", "get_status")
        await call("server_info", "get_server_info")
        await call("system_status", "get_system_status")
        await call("metrics", "get_metrics")
        cameras = await call("cameras", "get_camera_list")
        details = {}
        for camera in (cameras or {}).get("cameras", []):
            device = camera.get("device")
            try:
                details[device] = await client.call("get_camera_status", {"device": device, "debug": True})
            except ApiCallFailed as e:
                details[device] = {"error": str(e)}
        report.sections["camera_status"] = scrub(details, secrets)
        await call("streams", "get_streams")
        await call("recent_errors", "get_recent_errors", {"limit": 100})
    finally:
        await client.close()

    m = config.mediamtx
    try:
        # the Control API is camservice's alone: it takes camservice's credentials
        password = _read_api_password(m.api_password_file)
        auth = {"auth": (m.api_user, password)} if password else {}
        code, body = await get(f"{m.api_url}/v3/paths/list?itemsPerPage=1000", **auth)
        shown = secrets + ((password,) if password else ())
        report.sections["mediamtx_paths"] = scrub(_json_or_text(code, body), shown)
    except _UNREACHABLE as e:
        report.sections["mediamtx_paths"] = {"error": f"{m.api_url}: {_reason(e)}"}
    return True


def _reason(e: BaseException) -> str:
    if isinstance(e, (ResponseFailed, ResponseNeverReceived)) and getattr(e, "reasons", None):
        return _reason(e.reasons[0].value)
    text = str(e) or type(e).__name__
    return text.splitlines()[0] if text else type(e).__name__


def _json_or_text(code: int, body: bytes) -> dict:
    try:
        return {"code": code, "body": json.loads(body)}
    except ValueError:
        return {"code": code, "body": body.decode("utf-8", "replace")[:2000]}


def _read_api_password(path) -> Optional[str]:
    """The Control API password, if this user may read it (never created)."""
    try:
        return Path(path).read_text("ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _treq_get(reactor, timeout: float):
    from treq.client import HTTPClient
    from twisted.web.client import Agent

    client = HTTPClient(Agent(reactor, connectTimeout=timeout))

    async def get(url: str, auth: Optional[tuple[str, str]] = None):
        async def fetch():
            response = await client.get(url, timeout=timeout, **({"auth": auth} if auth else {}))
            return response.code, await response.content()

        d = defer.ensureDeferred(fetch())
        d.addTimeout(timeout, reactor)
        return await d

    return get


def _mb(n: Optional[int]) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def render_text(report: Report) -> str:
    """The report as text for a terminal: short summaries first, then each
    section as JSON."""
    s = report.sections
    out = io.StringIO()
    w = out.write
    gen = s.get("generated", {})
    w(f"camservice diagnostics, {gen.get('at')} (config {gen.get('config_file')})\n\n")
    w("== versions ==\n")
    for k, v in s.get("versions", {}).items():
        w(f"  {k:<18} {v}\n")
    service = s.get("service", {})
    w("\n== service ==\n")
    if service.get("running"):
        w(f"  running; API {service.get('api')}\n")
        if service.get("api_error"):
            w(f"  API calls failed: {service['api_error']}\n")
    else:
        w(f"  NOT RUNNING ({service.get('reason', 'not asked')}); only the static parts follow\n")
    status = s.get("status")
    if isinstance(status, dict) and "status" in status:
        w(f"  status {status['status']}, up {status.get('uptime')} s, components {json.dumps(status.get('components'))}\n")
        mm = status.get("mediamtx") or {}
        w(f"  MediaMTX {mm.get('health')} ({mm.get('detail')}), breaker {mm.get('breaker')}"
          f" ({mm.get('breaker_failures')} failures)\n")
    res = (s.get("metrics") or {}).get("system_metrics")
    if res:
        w("\n== resources ==\n")
        w(f"  camservice: cpu {res.get('process_cpu_usage')} %, rss {_mb(res.get('process_memory_bytes'))}, "
          f"{res.get('process_open_files')} open files, {res.get('process_threads')} threads\n")
        for child in res.get("children", []):
            w(f"  pid {child['pid']:<7} {child['name']:<16} cpu {child['cpu_usage']} %, "
              f"rss {_mb(child['memory_bytes'])}, {child['open_files']} open files\n")
        w(f"  host: cpu {res.get('cpu_usage')} %, memory {res.get('memory_usage')} %, disk {res.get('disk_usage')} %, "
          f"load {res.get('load_average')}; data folder {_mb(res.get('data_dir_bytes'))}\n")
    cams = s.get("cameras")
    if isinstance(cams, dict) and "cameras" in cams:
        w("\n== cameras ==\n")
        for c in cams["cameras"]:
            w(f"  {c.get('device'):<12} {c.get('status'):<13} {c.get('name')} {c.get('resolution')}@{c.get('fps')}\n")
    errors = s.get("recent_errors")
    if isinstance(errors, dict) and "events" in errors:
        w(f"\n== recent errors ({len(errors['events'])} of {errors.get('total')}) ==\n")
        for e in errors["events"][-20:]:
            w(f"  {e.get('time')} {e.get('level'):<8} {e.get('system')}: {e.get('message')}\n")
    for name, content in s.items():
        if name in ("generated", "versions"):
            continue
        w(f"\n== {name} ==\n")
        w(json.dumps(content, indent=2, sort_keys=False, default=str))
        w("\n")
    return out.getvalue()


def write_archive(report: Report, path: Path, text: Optional[str] = None) -> Path:
    """One ``.tar.gz`` (mode 0600: it holds the configuration): the text
    report as ``summary.txt``, each section as ``<name>.json``, the
    Prometheus text as ``metrics.prom``, the log tail as ``log-tail.jsonl``.
    """
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    top = f"camservice-diagnose-{stamp}"
    files = {"summary.txt": (text if text is not None else render_text(report))}
    for name, content in report.sections.items():
        if name == "log_file":
            tail = content.get("tail", [])
            content = {k: v for k, v in content.items() if k != "tail"}
            if tail:
                files["log-tail.jsonl"] = "\n".join(tail) + "\n"
        files[f"{name}.json"] = json.dumps(content, indent=2, default=str) + "\n"
    if report.prometheus:
        files["metrics.prom"] = report.prometheus
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            blob = data.encode("utf-8")
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(blob)
            info.mtime = int(time.time())
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(blob))
    return path
