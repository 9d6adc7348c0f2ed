"""Shared parts of the benchmarks in tests/bench.

- the service: a config in a temp folder, a free port, ``twistd camservice``
  in a subprocess, a viewer token from ``camservice-admin``, RSS and CPU
  from /proc;
- the load generator: a lean asyncio WebSocket client (client framing with
  masking, text frames, ping/pong and close; nothing else) run in worker
  processes of its own. It needs about half the CPU per request of an
  Autobahn client. With 2+ CPUs the service is pinned to the last CPU and
  the workers to the others (``BENCH_PIN=0``: no pinning;
  ``BENCH_SERVICE_CPU=N``: the service's CPU).

Run as a script (``python _harness.py loadgen SPEC_JSON``) it is a load
generator worker; the benchmarks start those, never the user. Only the
standard library is used here (orjson when importable, for reading replies).

Every process started here is killed when the benchmark exits, also on an
error, Ctrl-C or SIGTERM; on Linux the children also get SIGTERM if the
benchmark itself is killed (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import asyncio
import atexit
import base64
import ctypes
import gc
import json
import os
import random
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for helpers
from helpers.processes import free_port, free_ports, media_ports, mediamtx_ports  # noqa: E402,F401 (re-exported)
from helpers.processes import service_env_tool  # noqa: E402
from typing import Optional

try:  # replies are parsed with the project's fast codec when present
    import orjson as _orjson

    _loads = _orjson.loads
except ImportError:  # pragma: no cover
    _loads = json.loads

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
WS_PATH = "/ws"
HARNESS = Path(__file__).resolve()
#: the bytecode cache of the services benchmarked (the unit's is the service user's)
BENCH_PYCACHE = Path.home() / ".cache" / "camservice" / "bench-pycache"

# --------------------------------------------------------------------------
# process hygiene


def raise_nofile() -> int:
    """Raise the open-file soft limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


_libc = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_children: list[subprocess.Popen] = []

#: On a machine with 2+ CPUs the service is pinned to CPU 0 and the load
#: generators to the others, so that a ping-pong load does not end up with
#: both sides on one core (the scheduler's wake-affine placement does that,
#: and the figures then halve at random). BENCH_PIN=0 turns it off.
PIN = os.environ.get("BENCH_PIN", "1") != "0" and len(os.sched_getaffinity(0)) >= 2
_ALL_CPUS = sorted(os.sched_getaffinity(0))
_SERVICE_CPU = int(os.environ.get("BENCH_SERVICE_CPU", _ALL_CPUS[-1]))
SERVICE_CPUS = {_SERVICE_CPU} if PIN else set(_ALL_CPUS)
LOADGEN_CPUS = set(_ALL_CPUS) - SERVICE_CPUS if PIN else set(_ALL_CPUS)


def _pinned(cpus):
    def setup():
        _die_with_parent()
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            pass
    return setup


def spawn(args: list, **kw) -> subprocess.Popen:
    """Popen that is killed at exit and dies with this process."""
    kw.setdefault("preexec_fn", _die_with_parent)
    proc = subprocess.Popen([str(a) for a in args], **kw)
    _children.append(proc)
    return proc


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        except ProcessLookupError:
            pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    if proc in _children:
        _children.remove(proc)


def cleanup() -> None:
    for proc in list(reversed(_children)):
        stop_process(proc)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Kill every child at exit, and turn SIGTERM/SIGHUP into a clean exit."""
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


# --------------------------------------------------------------------------
# /proc


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (MiB)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for {pid}")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/PID/task/*/children)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid``, parents before their children."""
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def proc_identity(pid: int) -> Optional[tuple]:
    """``(pid, start time, comm)`` of a live process, or None: a pid plus
    its start time names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            head, tail = f.read().rsplit(")", 1)
        return pid, int(tail.split()[19]), head.split("(", 1)[1]
    except (OSError, ValueError, IndexError):
        return None


def kill_if_same(identity: tuple, sig: int = signal.SIGKILL) -> bool:
    """Signal the process ``identity`` (from :func:`proc_identity`) if it
    is still that process; True if it was signalled."""
    now = proc_identity(identity[0])
    if now is None or now[:2] != identity[:2]:
        return False
    try:
        os.kill(identity[0], sig)
        return True
    except ProcessLookupError:
        return False


# --------------------------------------------------------------------------
# the service


def _merge(base: dict, extra: dict) -> dict:
    """Merge ``extra`` into ``base``: dicts key by key, anything else replaces."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


_warmed: set = set()


def warm_bytecode(env: dict) -> None:
    """Compile, once per run, everything a service may import into the
    bytecode cache ``env`` names, as the package's install does: otherwise
    the first service of a run after a checkout or an edit compiles its
    modules while it is measured (several MB of RSS and seconds of CPU that
    the next services do not pay)."""
    key = (env.get("PYTHONPYCACHEPREFIX"), env.get("PYTHONOPTIMIZE"))
    if key in _warmed:
        return
    _warmed.add(key)
    folders = [ROOT / "camservice", ROOT / "twisted"]
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        in_checkout = path == ROOT or ROOT in path.parents
        if path.is_dir() and (not in_checkout or "site-packages" in path.parts):  # a venv's, not tests/
            folders.append(path)
    # a file that does not compile (a Python 2 example in some package) is not ours to mend
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j0", *map(str, folders)], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)


class Service:
    """camservice under ``twistd -n`` with a config of its own in a temp folder.

    Use as a context manager; ``pid``, ``port``, ``url``, ``token``.
    """

    def __init__(self, max_connections: int = 2000, cameras: Optional[int] = 1,
                 extra_env: Optional[dict] = None, profile: Optional[str] = None,
                 mediamtx: Optional[dict] = None, pin: bool = True,
                 config_extra: Optional[dict] = None, wrapper: Optional[list] = None, tls: bool = False):
        """:param cameras: declare this many virtual cameras (default one, as
        the yardstick server has; None: whatever the config defaults give).
        :param mediamtx: keys of the config's ``mediamtx`` section (e.g.
            ``mediamtx_ports()`` plus settings); None: no such section.
        :param pin: pin the service (and so its children: MediaMTX, FFmpeg)
            to ``SERVICE_CPUS`` when pinning is on; False: never pin.
        :param config_extra: sections merged into the config (dicts merged
            key by key, anything else replaces), e.g. ``{"discovery":
            {"mode": "udev", "debounce": 0}}``.
        :param wrapper: a command line the ``twistd`` command is appended
            to (it must exec it, so that ``pid`` stays twistd's), e.g.
            ``["unshare", "--mount", ...]``.
        :param tls: serve ``wss://`` with a self-signed certificate for
            ``localhost`` made with the ``openssl`` command (``ca_file``)."""
        self.tmp = Path(tempfile.mkdtemp(prefix="camservice-bench-"))
        self.tls = tls
        self.ca_file: Optional[str] = None
        self.port = free_port()
        self.config = self.tmp / "camservice.yaml"
        document = {
            "version": 1,
            "data_dir": str(self.tmp / "data"),
            "server": {"host": HOST, "port": self.port, "websocket_path": WS_PATH,
                       "max_connections": max_connections, "max_connections_per_address": max_connections,
                       "rate_limit": {"requests_per_second": 0}},
            "logging": {"level": "warn", "format": "json"},
            "discovery": {"mode": "disabled"},
        }
        ports, auth_port = media_ports()
        if mediamtx is None:
            mediamtx = ports  # never the default ports of a running service
        if mediamtx:
            document["mediamtx"] = dict(mediamtx)
        self.mediamtx = dict(mediamtx or {})
        self.pin = pin
        if cameras is not None:
            document["cameras"] = {"declared": [
                {"id": f"camera{1000 + i}", "kind": "virtual", "name": f"Test pattern {i}",
                 "resolution": "640x480", "fps": 15}
                for i in range(cameras)
            ]}
        # never the default port of a running service either
        document["streams"] = {"auth_port": auth_port}
        if tls:
            cert, key = self.tmp / "server.crt", self.tmp / "server.key"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                check=True, capture_output=True, timeout=30,
            )
            self.ca_file = str(cert)
            document["server"]["tls"] = {"certificate": str(cert), "private_key": str(key)}
        _merge(document, config_extra or {})
        # JSON is YAML: the standard library is enough to write it
        self.config.write_text(json.dumps(document, indent=2) + "\n")
        self.wrapper = [str(a) for a in wrapper or []]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSERVICE_")}
        # as the systemd unit runs it (its Environment= lines); BENCH_SERVICE_ENV=0:
        # without them, to measure what they save
        if os.environ.get("BENCH_SERVICE_ENV", "1") != "0":
            self.env = service_env_tool.service_env(self.env, BENCH_PYCACHE)
        self.env.update(extra_env or {})
        self.profile = profile
        self.proc: Optional[subprocess.Popen] = None
        self.token: Optional[str] = None

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{HOST}:{self.port}{WS_PATH}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def mint_token(self, role: str = "viewer") -> str:
        out = subprocess.run(
            [str(BIN / "camservice-admin"), "--config", str(self.config), "token", "--role", role],
            env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def start(self, timeout: float = 30.0) -> "Service":
        raise_nofile()
        warm_bytecode(self.env)
        self.token = self.mint_token("viewer")  # also creates the JWT secret
        # .venv-debian has no twistd script of its own (Debian's is twistd3)
        twistd = [BIN / "twistd"] if (BIN / "twistd").exists() else [
            sys.executable, "-c", "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"]
        args = self.wrapper + twistd + ["-n", "--pidfile="]
        if self.profile:
            args += [f"--profile={self.profile}", "--profiler=cprofile", "--savestats"]
        args += ["camservice", "--config", self.config]
        self.log = open(self.tmp / "service.log", "wb")
        self.proc = spawn(args, cwd=str(self.tmp), env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL,
                          preexec_fn=_pinned(SERVICE_CPUS) if self.pin else _die_with_parent)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"camservice exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"camservice did not listen on {self.port}: {self.log_text()[-2000:]}")
                time.sleep(0.05)
        return self

    def mediamtx_headers(self) -> dict:
        """``Authorization`` for MediaMTX's Control API: camservice's own
        credentials (the password file it generated in its data folder)."""
        import base64

        password = (self.tmp / "data" / "mediamtx-api-password").read_text().splitlines()[0].strip()
        token = base64.b64encode(f"camservice:{password}".encode()).decode()
        return {"Authorization": "Basic " + token}

    def log_text(self) -> str:
        try:
            return (self.tmp / "service.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            # SIGINT: twistd stops the reactor cleanly (and writes a profile).
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGINT)
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            stop_process(self.proc)
            self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Service":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------
# the lean WebSocket client


_getrandbits = random.getrandbits  # a fresh mask per frame, without a syscall


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (RFC 6455 5.2/5.3)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = _getrandbits(32).to_bytes(4, "little")
    if n:
        mask = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")
    return header + key + payload


class WsClient(asyncio.Protocol):
    """One WebSocket connection; replies are handed to ``on_text(bytes)``.

    ``opened`` resolves after the handshake, ``closed`` once the TCP link is
    gone.
    """

    def __init__(self, host: str, port: int, path: str):
        loop = asyncio.get_running_loop()
        self.host, self.port, self.path = host, port, path
        self.opened = loop.create_future()
        self.closed = loop.create_future()
        self.transport = None
        self.buf = bytearray()
        self.handshaken = False
        self.fragments: Optional[bytearray] = None
        self.on_text = None
        self.close_code: Optional[int] = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: end + 4]
            if b" 101 " not in status:
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(f"handshake refused: {status.decode(errors='replace')}"))
                self.transport.close()
                return
            self.handshaken = True
            if not self.opened.done():
                self.opened.set_result(self)
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + n
            if end > size:
                break
            payload = bytes(buf[start:end])
            pos = end
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode == 0x1 or opcode == 0x2:
                if fin:
                    if self.on_text is not None:
                        self.on_text(payload)
                else:
                    self.fragments = bytearray(payload)
            elif opcode == 0x0:
                if self.fragments is not None:
                    self.fragments += payload
                    if fin:
                        whole, self.fragments = bytes(self.fragments), None
                        if self.on_text is not None:
                            self.on_text(whole)
            elif opcode == 0x9:  # ping
                self.transport.write(_frame(payload, 0xA))
            elif opcode == 0x8:  # close: answer it, the server drops the link
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.transport.is_closing():
                    self.transport.write(_frame(payload[:2], 0x8))
        if pos:
            del buf[:pos]

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost before the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def send_text(self, payload: bytes) -> None:
        self.transport.write(_frame(payload))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(code.to_bytes(2, "big"), 0x8))


def client_tls(ca_file: Optional[str]) -> Optional[ssl.SSLContext]:
    """A client context trusting ``ca_file`` (None: no TLS)."""
    if not ca_file:
        return None
    return ssl.create_default_context(cafile=ca_file)


async def ws_connect(host: str, port: int, path: str = WS_PATH, timeout: float = 10.0,
                     tls: Optional[ssl.SSLContext] = None) -> WsClient:
    loop = asyncio.get_running_loop()
    extra = {"ssl": tls, "server_hostname": "localhost"} if tls is not None else {}
    _, proto = await asyncio.wait_for(
        loop.create_connection(lambda: WsClient(host, port, path), host, port, **extra), timeout
    )
    proto.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await asyncio.wait_for(proto.opened, timeout)
    return proto


class RpcClient:
    """Sequential (or concurrent) JSON-RPC calls on one lean connection,
    replies matched by id; notifications are kept in ``notifications``."""

    def __init__(self, ws: WsClient):
        self.ws = ws
        self.next_id = 1
        self.pending: dict = {}
        self.notifications: list = []
        ws.on_text = self._on_text
        ws.closed.add_done_callback(self._on_closed)

    @classmethod
    async def connect(cls, host: str, port: int, path: str = WS_PATH, token: Optional[str] = None,
                      timeout: float = 10.0, tls: Optional[ssl.SSLContext] = None) -> "RpcClient":
        client = cls(await ws_connect(host, port, path, timeout, tls))
        if token:
            reply = await client.call("authenticate", {"auth_token": token}, timeout)
            if not (reply.get("result") or {}).get("authenticated"):
                client.abort()
                raise RuntimeError(f"authenticate failed: {reply}")
        return client

    def _on_text(self, payload: bytes) -> None:
        msg = _loads(payload)
        waiter = self.pending.pop(msg.get("id"), None) if isinstance(msg, dict) else None
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(msg)
        elif isinstance(msg, dict) and "method" in msg:
            self.notifications.append(msg)

    def _on_closed(self, _fut) -> None:
        pending, self.pending = self.pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection closed"))

    async def call(self, method: str, params: Optional[dict] = None, timeout: float = 30.0) -> dict:
        """The whole reply object (``result`` or ``error``)."""
        i = self.next_id
        self.next_id = i + 1
        request = {"jsonrpc": "2.0", "method": method, "id": i}
        if params is not None:
            request["params"] = params
        waiter = asyncio.get_running_loop().create_future()
        self.pending[i] = waiter
        self.ws.send_text(json.dumps(request, separators=(",", ":")).encode())
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self.pending.pop(i, None)

    async def result(self, method: str, params: Optional[dict] = None, timeout: float = 30.0):
        """The ``result``; an error reply raises RuntimeError."""
        reply = await self.call(method, params, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply["result"]

    async def close(self, timeout: float = 5.0) -> None:
        self.ws.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.ws.closed), timeout)
        except asyncio.TimeoutError:
            pass
        self.abort()

    def abort(self) -> None:
        if self.ws.transport is not None:
            self.ws.transport.abort()


# --------------------------------------------------------------------------
# the load generator worker (runs in its own process)


class Conn:
    """One client of the load: keeps one request in flight, like wsbench.

    Closed loop: the next request goes as soon as the reply is in. Open loop
    (``interval`` > 0): requests are due every ``interval`` seconds from a
    random phase. Latency counts from the scheduled time when the previous
    reply came after it (so a slow server also pays for the requests queued
    behind it, as in wrk2), otherwise from the actual send, so the client's
    timer slack is not charged.
    """

    __slots__ = ("ws", "gen", "prefix", "suffix", "next_id", "t0", "next_due", "waiter", "busy")

    def __init__(self, ws: WsClient, gen: "LoadGen"):
        self.ws = ws
        self.gen = gen
        p = f',"params":{gen.params}' if gen.params else ""
        self.prefix = f'{{"jsonrpc":"2.0","method":"{gen.method}"{p},"id":'.encode()
        self.suffix = b"}"
        self.next_id = 1
        self.t0 = 0.0
        self.next_due = 0.0
        self.waiter: Optional[asyncio.Future] = None
        self.busy = False
        ws.on_text = self.on_text

    def send(self, t0: float) -> None:
        self.t0 = t0
        self.busy = True
        i = self.next_id
        self.next_id = i + 1
        self.ws.send_text(self.prefix + str(i).encode() + self.suffix)

    def fire(self, run_no: int, due: float) -> None:  # open loop timer
        gen = self.gen
        if gen.running and run_no == gen.run_no:
            now = time.monotonic()
            gen.lag.append(now - due)
            self.send(now)

    def on_text(self, payload: bytes) -> None:
        now = time.monotonic()
        if self.waiter is not None:  # setup phase (authenticate)
            w, self.waiter = self.waiter, None
            if not w.done():
                w.set_result(_loads(payload))
            return
        if not self.busy:
            return
        # Skip notifications (a method and no id); anything else answers the
        # one request in flight.
        if b'"method"' in payload and b'"id"' not in payload:
            return
        self.busy = False
        gen = self.gen
        gen.record(self.t0, now, b'"error"' in payload)
        if not gen.running:
            return
        interval = gen.interval
        if not interval:
            self.send(now)
            return
        due = self.next_due
        self.next_due = due + interval
        if due <= now:
            self.send(due)
        else:
            gen.loop.call_at(due, self.fire, gen.run_no, due)

    async def call(self, method: str, params: dict, timeout: float = 30.0) -> dict:
        self.waiter = asyncio.get_running_loop().create_future()
        self.ws.send_text(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 0}).encode())
        return await asyncio.wait_for(self.waiter, timeout)


class LoadGen:
    def __init__(self, spec: dict):
        self.spec = spec
        self.method = spec.get("method", "ping")
        self.params = spec.get("params")
        rate = float(spec.get("rate") or 0)
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.running = False
        self.lat = array("d")
        self.errors = 0
        self.window = (0.0, 0.0)
        self.in_window = 0
        self.loop = None
        self.run_no = 0
        self.lag = array("d")

    def reset(self, window) -> None:
        self.run_no += 1
        self.lat = array("d")
        self.lag = array("d")  # open loop: how late the timers fired
        self.errors = 0
        self.in_window = 0
        self.window = window

    def record(self, t0: float, now: float, error: bool) -> None:
        lo, hi = self.window
        if lo <= t0 < hi:
            self.lat.append(now - t0)
            if error:
                self.errors += 1
            if now < hi:
                self.in_window += 1


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _worker(spec: dict) -> None:
    """Connect, report ready, wait for ``go START WARMUP END`` (monotonic
    seconds) or ``hold``, run, report, close."""
    loop = asyncio.get_running_loop()
    gen = LoadGen(spec)
    gen.loop = loop
    n = int(spec["clients"])
    token = spec.get("token")
    tls = client_tls(spec.get("ca_file"))
    sem = asyncio.Semaphore(int(spec.get("dial_parallel", 64)))
    conns: list[Conn] = []
    failures: list[str] = []
    auth_failures = 0

    async def open_one():
        nonlocal auth_failures
        async with sem:
            for attempt in range(3):
                try:
                    ws = await ws_connect(spec["host"], spec["port"], spec.get("path", WS_PATH), tls=tls)
                    break
                except (OSError, ConnectionError, asyncio.TimeoutError) as e:
                    if attempt == 2:
                        failures.append(repr(e))
                        return
                    await asyncio.sleep(0.2)
            c = Conn(ws, gen)
            if token:
                reply = await c.call("authenticate", {"auth_token": token})
                if not (reply.get("result") or {}).get("authenticated"):
                    auth_failures += 1
            conns.append(c)

    await asyncio.gather(*(open_one() for _ in range(n)))
    _emit({"ready": True, "connected": len(conns), "connect_failures": len(failures),
           "auth_failures": auth_failures, "first_failure": failures[0] if failures else None})

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] != "go":
            break
        start, warm, end = map(float, line[1:4])
        gen.reset((warm, end))
        # No cyclic garbage is made while loading: keep collector pauses out
        # of the client's timestamps.
        gc.collect()
        gc.disable()
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        gen.running = True
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        now = time.monotonic()
        for c in conns:
            if c.busy:  # lost in an earlier run
                continue
            if gen.interval:
                due = now + random.random() * gen.interval
                c.next_due = due + gen.interval
                loop.call_at(due, c.fire, gen.run_no, due)
            else:
                c.send(time.monotonic())
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        gen.running = False
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        # let the last replies in (counted if sent in the window)
        drain_until = time.monotonic() + float(spec.get("drain", 5.0))
        while any(c.busy for c in conns) and time.monotonic() < drain_until:
            await asyncio.sleep(0.01)
        lost = sum(1 for c in conns if c.busy)
        gc.enable()
        lag = sorted(gen.lag)
        with open(spec["lat_file"], "wb") as f:
            gen.lat.tofile(f)
        _emit({"done": True, "requests": len(gen.lat), "in_window": gen.in_window, "errors": gen.errors,
               "timeouts": lost, "timer_lag_p99_ms": round(percentile(lag, 99) * 1000, 3) if lag else None,
               "cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)})
    # close politely and wait a little for the server's side
    for c in conns:
        c.ws.close()
    if conns:
        await asyncio.wait([c.ws.closed for c in conns], timeout=10)
    for c in conns:
        if c.ws.transport is not None:
            c.ws.transport.abort()


def worker_main(spec: dict) -> None:
    raise_nofile()
    asyncio.run(_worker(spec))


# --------------------------------------------------------------------------
# driving workers from a benchmark


def percentile(sorted_values, p: float) -> Optional[float]:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class Workers:
    """``procs`` load generator processes sharing ``clients`` connections."""

    def __init__(self, service: Service, clients: int, procs: int = 1, method: str = "ping",
                 params: Optional[str] = None, rate: float = 0.0, auth: bool = False):
        self.service = service
        self.spec_rate = rate
        self.tmp = Path(tempfile.mkdtemp(prefix="camservice-loadgen-"))
        self.procs: list[subprocess.Popen] = []
        self.files: list[Path] = []
        procs = max(1, min(procs, clients))
        shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        for i, share in enumerate(shares):
            lat_file = self.tmp / f"lat{i}.bin"
            self.files.append(lat_file)
            spec = {"host": HOST, "port": service.port, "path": WS_PATH, "clients": share,
                    "method": method, "params": params, "rate": rate,
                    "token": service.token if auth else None, "lat_file": str(lat_file),
                    "ca_file": service.ca_file}
            self.procs.append(spawn([sys.executable, HARNESS, "loadgen", json.dumps(spec)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    preexec_fn=_pinned(LOADGEN_CPUS)))
        self.ready = [self._read(p, "ready") for p in self.procs]

    def _read(self, proc: subprocess.Popen, key: str, timeout: float = 120.0) -> dict:
        # Workers write one JSON line per step; anything else is passed on to stderr.
        deadline = time.monotonic() + timeout
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"load generator exited ({proc.poll()}) before {key!r}")
            try:
                obj = json.loads(line)
            except ValueError:
                sys.stderr.write(line)
                continue
            if key in obj:
                return obj
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {key!r} from the load generator")

    @property
    def connected(self) -> int:
        return sum(r["connected"] for r in self.ready)

    def connect_failures(self) -> int:
        return sum(r["connect_failures"] + r["auth_failures"] for r in self.ready)

    def run(self, duration: float, warmup: float = 1.0) -> dict:
        """Load for ``warmup`` + ``duration`` seconds; figures over ``duration``."""
        pid = self.service.pid
        start = time.monotonic() + 0.2
        for p in self.procs:
            p.stdin.write(f"go {start} {start + warmup} {start + warmup + duration}\n")
            p.stdin.flush()
        time.sleep(max(0.0, start + warmup - time.monotonic()))
        cpu0 = cpu_seconds(pid)
        time.sleep(max(0.0, start + warmup + duration - time.monotonic()))
        cpu1 = cpu_seconds(pid)
        done = [self._read(p, "done") for p in self.procs]
        lat = array("d")
        for f in self.files:
            with open(f, "rb") as fh:
                data = fh.read()
            chunk = array("d")
            chunk.frombytes(data)
            lat.extend(chunk)
        values = sorted(lat)
        ms = lambda v: None if v is None else round(v * 1000.0, 3)  # noqa: E731
        in_window = sum(d["in_window"] for d in done)
        completed = sum(d["requests"] for d in done)
        return {
            "requests": len(values),
            "rps": round(in_window / duration, 1),
            "p50_ms": ms(percentile(values, 50)),
            "p90_ms": ms(percentile(values, 90)),
            "p99_ms": ms(percentile(values, 99)),
            "max_ms": ms(values[-1] if values else None),
            "errors": sum(d["errors"] for d in done),
            "timeouts": sum(d["timeouts"] for d in done),
            "server_cpu_pct": round(100.0 * (cpu1 - cpu0) / duration, 1),
            # the service's CPU time per request: a figure the client cannot inflate
            "server_us_per_req": round(1e6 * (cpu1 - cpu0) / completed, 1) if completed else None,
            "loadgen_timer_lag_p99_ms": max((d["timer_lag_p99_ms"] or 0) for d in done) if self.spec_rate else None,
            "loadgen_cpu_pct": round(100.0 * sum(d["cpu_s"] for d in done) / (warmup + duration), 1),
            # monotonic seconds (the clock is the machine's): the requests sent in it are counted
            "window": [round(start + warmup, 3), round(start + warmup + duration, 3)],
        }

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.stdin.write("close\n")
                    p.stdin.flush()
                except (BrokenPipeError, OSError):
                    pass
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                pass
            stop_process(p)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "loadgen":
        signal.signal(signal.SIGTERM, _on_signal)
        worker_main(json.loads(sys.argv[2]))
    else:
        sys.exit("usage: _harness.py loadgen SPEC_JSON (started by the benchmarks)")
