"""Child processes for integration tests: started with the reactor, their
output collected, always stopped and reaped."""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
from typing import Optional

import treq
from twisted.internet import defer, error, protocol, task

TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"

ROOT = Path(__file__).resolve().parents[2]
#: the bytecode cache of the camservice processes tests start (the unit's
#: own, /var/cache/camservice, is the service user's)
TEST_PYCACHE = Path.home() / ".cache" / "camservice" / "test-pycache"


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"camservice_tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: tools/service_env.py: the systemd unit's environment, read from the unit
service_env_tool = _load_tool("service_env")


def service_env(env: Optional[dict] = None, base: Optional[dict] = None) -> dict:
    """The whole environment of a camservice started as the systemd unit
    starts it (its ``Environment=`` lines: malloc arenas, -OO, the bytecode cache
    in :data:`TEST_PYCACHE`), over ``base`` (default ``os.environ``), with
    ``env`` over that."""
    environment = service_env_tool.service_env(os.environ if base is None else base, TEST_PYCACHE)
    environment.update(env or {})
    return environment


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 for both TCP and UDP."""
    ports: list[int] = []
    held = []
    try:
        while len(ports) < n:
            tcp = socket.socket()
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                tcp.close()
                udp.close()
                continue
            held += [tcp, udp]
            ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def mediamtx_ports() -> dict:
    """``mediamtx`` config keys for a MediaMTX on free loopback ports."""
    return media_ports()[0]


def media_ports() -> tuple[dict, int]:
    """:func:`mediamtx_ports` and a ``streams.auth_port``, all distinct
    (ports picked one after another may repeat one just released)."""
    api, rtsp, hls, webrtc, udp, auth = free_ports(6)
    return {"api_port": api, "rtsp_port": rtsp, "hls_port": hls, "webrtc_port": webrtc, "webrtc_udp_port": udp}, auth


def media_port_env() -> dict:
    """:func:`media_ports` as ``CAMSERVICE_*`` environment overrides, for
    a ``twistd camservice`` started as a process."""
    ports, auth_port = media_ports()
    env = {f"CAMSERVICE_MEDIAMTX__{key.upper()}": str(value) for key, value in ports.items()}
    env["CAMSERVICE_STREAMS__AUTH_PORT"] = str(auth_port)
    return env


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process we can read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        table[int(entry.name)] = (int(stat[stat.rindex(")") + 2:].split()[1]), comm)
    return table


def children_named(parent: int, name: str) -> list[int]:
    """Pids of ``parent``'s child processes whose command is ``name``."""
    return sorted(pid for pid, (ppid, comm) in process_table().items() if ppid == parent and comm == name)


class _Collector(protocol.ProcessProtocol):
    def __init__(self):
        self.out = bytearray()
        self.err = bytearray()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.out += data

    def errReceived(self, data):
        self.err += data

    def processEnded(self, reason):
        code = reason.value.exitCode
        signal_ = getattr(reason.value, "signal", None)
        self.ended.callback(code if code is not None else -(signal_ or 0))


class Child:
    """A running child process.

    :ivar ended: fires with the exit code (negative: killed by that signal).
    """

    def __init__(self, reactor, argv, env=None, cwd=None, inherit: bool = True):
        """:param env: variables set over this process's environment, or
        (``inherit=False``) the whole environment."""
        self.reactor = reactor
        self.collector = _Collector()
        environment = dict(os.environ) if inherit else {}
        environment.update(env or {})
        self.transport = reactor.spawnProcess(
            self.collector, argv[0], argv, env=environment, path=cwd
        )
        self.ended = self.collector.ended

    @property
    def pid(self) -> Optional[int]:
        return self.transport.pid

    @property
    def stdout(self) -> str:
        return self.collector.out.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.collector.err.decode("utf-8", "replace")

    def signal(self, name: str) -> None:
        try:
            self.transport.signalProcess(name)
        except error.ProcessExitedAlready:
            pass

    async def stop(self, timeout: float = 10.0) -> int:
        """TERM, then KILL after ``timeout`` seconds; the exit code."""
        if not self.ended.called:
            self.signal("TERM")
            killer = self.reactor.callLater(timeout, self.signal, "KILL")
            code = await self.ended
            if killer.active():
                killer.cancel()
            return code
        return await _copy(self.ended)


def _copy(d: defer.Deferred) -> defer.Deferred:
    copy = defer.Deferred()
    d.addBoth(lambda r: (copy.callback(r), r)[1])
    return copy


def start_twistd(reactor, config_path=None, env=None, extra=()) -> Child:
    """``twistd -n --pidfile= camservice [--config FILE]`` with this Python,
    in the unit's environment (:func:`service_env`) with ``env`` over it."""
    argv = [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "camservice"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    return Child(reactor, argv + list(extra), env=service_env(env), inherit=False)


async def wait_for_http(reactor, url: str, child: Optional[Child] = None, timeout: float = 20.0):
    """Poll ``url`` until it answers (any status); the response."""
    deadline = reactor.seconds() + timeout
    while True:
        if child is not None and child.ended.called:
            raise AssertionError(f"process ended early:\n{child.stdout}\n{child.stderr}")
        try:
            return await treq.get(url, timeout=2)
        except Exception:
            if reactor.seconds() > deadline:
                raise
            await task.deferLater(reactor, 0.05, lambda: None)


async def run(reactor, argv, env=None, timeout: float = 30.0) -> tuple[int, str, str]:
    """Run a command to completion: (exit code, stdout, stderr)."""
    child = Child(reactor, argv, env=env)
    killer = reactor.callLater(timeout, child.signal, "KILL")
    code = await child.ended
    if killer.active():
        killer.cancel()
    return code, child.stdout, child.stderr
