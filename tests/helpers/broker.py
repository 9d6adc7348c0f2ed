"""A real Mosquitto for integration tests run in the reactor, on a free
loopback port with a password file (no anonymous clients; the
configuration of :mod:`helpers.mosquitto`), and Mosquitto's own command-line
clients to watch it (``mosquitto_sub``) and to ask it (``mosquitto_rr``,
MQTT 5 request/response)."""
from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import defer, error, protocol, task, threads

from helpers.mosquitto import write_config, write_password_file
from helpers.processes import Child, free_port, run

__all__ = ["Broker", "Message", "Watcher", "request", "start_broker", "wait_running"]


@dataclass
class Broker:
    """A running ``mosquitto``; :meth:`stop` ends it."""

    reactor: object
    port: int
    users: dict
    child: Child
    folder: Path

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def credentials(self, user: str) -> list[str]:
        """``-u USER -P PASSWORD`` for the command-line clients."""
        return ["-u", user, "-P", self.users[user]]

    async def stop(self) -> int:
        return await self.child.stop(timeout=5)

    async def restart(self) -> None:
        """Start the stopped broker again, on its port and configuration
        (without the retained messages it had: persistence is off)."""
        self.child = Child(self.reactor, ["mosquitto", "-c", str(self.folder / "mosquitto.conf")])
        if not await wait_running(self.reactor, self.child):
            raise AssertionError(f"port {self.port} was taken while the broker was down")

    def log(self) -> str:
        return self.child.stdout + self.child.stderr


async def wait_running(reactor, child: Child, timeout: float = 10.0) -> bool:
    """Wait for mosquitto to say it runs; False if it could not bind its
    port (another process took it meanwhile), AssertionError otherwise."""
    deadline = reactor.seconds() + timeout
    while True:
        log = child.stdout + child.stderr
        if "Address already in use" in log:
            await child.stop(timeout=5)
            return False
        if child.ended.called or child.pid is None:
            raise AssertionError(f"mosquitto ended early:\n{log}")
        if " running" in log:
            return True
        if reactor.seconds() > deadline:
            await child.stop(timeout=5)
            raise AssertionError(f"mosquitto not running after {timeout} s:\n{log}")
        await task.deferLater(reactor, 0.05, lambda: None)


async def start_broker(reactor, folder: Path, users=("camservice", "watcher"), acl: Optional[str] = None) -> Broker:
    """Mosquitto on 127.0.0.1 at a free port; each of ``users`` gets a
    random password; ``acl`` is the text of an ACL file (none: every
    authenticated user may read and write everything)."""
    folder.mkdir(parents=True, exist_ok=True)
    passwords = {user: secrets.token_urlsafe(16) for user in users}
    password_file = await threads.deferToThread(write_password_file, folder / "passwd", passwords)
    acl_file = None
    if acl is not None:
        acl_file = folder / "acl"
        acl_file.write_text(acl)
        acl_file.chmod(0o600)
    for attempt in range(5):
        port = free_port()
        config = write_config(folder, port, password_file=password_file, acl_file=acl_file)
        child = Child(reactor, ["mosquitto", "-c", str(config)])
        broker = Broker(reactor, port, passwords, child, folder)
        if await wait_running(reactor, child):
            break
    else:
        raise AssertionError("no free port for mosquitto after 5 attempts")
    return broker


@dataclass(frozen=True)
class Message:
    retained: bool
    topic: str
    payload: bytes

    def json(self):
        import json

        return json.loads(self.payload)


class _Lines(protocol.ProcessProtocol):
    def __init__(self, on_line: Callable[[str], None]):
        self._buffer = b""
        self._on_line = on_line
        self.err = bytearray()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._on_line(line.decode("ascii", "replace"))

    def errReceived(self, data):
        self.err += data

    def processEnded(self, reason):
        self.ended.callback(reason.value.exitCode)


@dataclass
class Watcher:
    """``mosquitto_sub`` on some topic filters, its messages collected
    (retained flag, topic, payload; payloads read as hex, so JPEGs and
    empty payloads come through exactly)."""

    reactor: object
    messages: list = field(default_factory=list)
    transport: object = None
    proto: object = None
    #: the broker watched, whose log explains a wait that timed out
    broker: Optional["Broker"] = None

    def _line(self, line: str) -> None:
        if not line:
            return
        retained, topic, payload = line.split("\t", 2)
        self.messages.append(Message(retained == "1", topic, binascii.unhexlify(payload)))

    def latest(self, topic_filter: Callable[[str], bool] = lambda t: True) -> dict:
        """topic -> the last message on it (an empty retained payload
        deletes the topic, as on the broker)."""
        found: dict = {}
        for m in self.messages:
            if topic_filter(m.topic):
                if m.payload == b"" and m.retained:
                    found.pop(m.topic, None)
                else:
                    found[m.topic] = m
        return found

    async def until(self, check: Callable[["Watcher"], object], timeout: float = 30.0, what: str = "condition"):
        """Poll ``check(self)`` until it is truthy; its value."""
        deadline = self.reactor.seconds() + timeout
        while True:
            value = check(self)
            if value:
                return value
            if self.proto.ended.called or self.transport.pid is None:
                raise AssertionError(f"mosquitto_sub ended: {self.proto.err.decode(errors='replace')}")
            if self.reactor.seconds() > deadline:
                log = self.broker.log()[-3000:] if self.broker is not None else ""
                raise AssertionError(
                    f"{what} not reached in {timeout} s; saw {[m.topic for m in self.messages][-40:]}\n"
                    f"mosquitto_sub: {self.proto.err.decode(errors='replace')[-500:]}\nbroker log:\n{log}"
                )
            await task.deferLater(self.reactor, 0.1, lambda: None)

    async def ready(self, broker: "Broker", probe_topic: str, user: str = "watcher", timeout: float = 20.0) -> None:
        """Wait until the subscription is in place: publish to
        ``probe_topic`` (one of the watched ones) until it comes back."""
        deadline = self.reactor.seconds() + timeout
        while True:
            code, out, err = await run(self.reactor, ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port),
                                                      *broker.credentials(user), "-t", probe_topic, "-m", "probe"])
            assert code == 0, out + err
            try:
                await self.until(lambda w: any(m.topic == probe_topic for m in w.messages), timeout=0.5)
                return
            except AssertionError:
                if self.reactor.seconds() > deadline:
                    raise

    async def stop(self) -> None:
        if not self.proto.ended.called:
            try:
                self.transport.signalProcess("TERM")
            except error.ProcessExitedAlready:
                pass
            killer = self.reactor.callLater(5, lambda: self.proto.ended.called or self.transport.signalProcess("KILL"))
            await self.proto.ended
            if killer.active():
                killer.cancel()


def watch(reactor, broker: Broker, topics: list[str], user: str = "watcher") -> Watcher:
    """Start ``mosquitto_sub`` (MQTT 5) on ``topics``; stop it with
    :meth:`Watcher.stop`."""
    watcher = Watcher(reactor, broker=broker)
    watcher.proto = _Lines(watcher._line)
    argv = ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), *broker.credentials(user), "-V", "mqttv5",
            "-q", "1", "-F", "%r\t%t\t%x"]
    for topic in topics:
        argv += ["-t", topic]
    watcher.transport = reactor.spawnProcess(watcher.proto, argv[0], argv, env=None)
    return watcher


async def request(
    reactor,
    broker: Broker,
    topic: str,
    payload: bytes,
    response_topic: str,
    correlation: bytes,
    user: str = "watcher",
    user_properties: Optional[dict] = None,
    timeout: float = 20.0,
) -> tuple[int, bytes, bytes, str]:
    """One MQTT 5 request with ``mosquitto_rr``: publish ``payload`` to
    ``topic`` with a response topic and correlation data, wait for the
    answer. Returns (exit code, answer payload, its correlation data,
    stderr)."""
    argv = ["mosquitto_rr", "-h", broker.host, "-p", str(broker.port), *broker.credentials(user), "-V", "mqttv5",
            "-q", "1", "-t", topic, "-e", response_topic, "-m", payload.decode("utf-8"),
            "-D", "publish", "correlation-data", correlation.decode("ascii"),
            "-W", str(int(timeout)), "-F", "%x\t%D"]
    for name, value in (user_properties or {}).items():
        argv += ["-D", "publish", "user-property", name, value]
    code, out, err = await run(reactor, argv, timeout=timeout + 5)
    line = out.strip().splitlines()[-1] if out.strip() else ""
    answer, _, corr = line.partition("\t")
    return code, binascii.unhexlify(answer) if answer else b"", corr.encode("ascii"), err
