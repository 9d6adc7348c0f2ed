"""A real ``twistd camservice`` with a fake ``NOTIFY_SOCKET`` (a datagram
socket this test binds): READY=1 once the API listens, WATCHDOG=1 pings,
STOPPING=1 at stop."""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest_twisted
import treq
from twisted.internet import defer, protocol, reactor, task

from helpers.processes import free_port, media_port_env, start_twistd


class _Receiver(protocol.DatagramProtocol):
    def __init__(self):
        self.messages: list[dict] = []
        self._waiters: list[tuple[str, defer.Deferred]] = []

    def datagramReceived(self, data, addr):
        message = dict(line.split("=", 1) for line in data.decode().splitlines())
        self.messages.append(message)
        for key, d in list(self._waiters):
            if key in message:
                self._waiters.remove((key, d))
                d.callback(message)

    def wait_for(self, key: str, timeout: float = 30.0) -> defer.Deferred:
        for message in self.messages:
            if key in message:
                return defer.succeed(message)
        d = defer.Deferred()
        self._waiters.append((key, d))
        return d.addTimeout(timeout, reactor)


def _env(tmp_path, port, socket_path):
    env = {
        "CAMSERVICE_DATA_DIR": str(tmp_path / "state"),
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",
        "NOTIFY_SOCKET": socket_path,
        "WATCHDOG_USEC": "400000",  # a ping every 0.2 s
    }
    env.update(media_port_env())
    return env


@pytest_twisted.ensureDeferred
async def test_ready_watchdog_and_stopping_reach_the_notify_socket(tmp_path, clean_env):
    folder = tempfile.mkdtemp(prefix="sd-")  # sun_path holds 108 bytes
    path = os.path.join(folder, "notify")
    receiver = _Receiver()
    port_listening = reactor.listenUNIXDatagram(path, receiver)
    port = free_port()
    child = start_twistd(reactor, env=_env(tmp_path, port, path))
    try:
        ready = await receiver.wait_for("READY")
        # the API already listens when systemd is told the service is ready
        alive = await treq.get(f"http://127.0.0.1:{port}/health/alive", timeout=2)
        assert alive.code == 200
        assert ready["READY"] == "1"
        assert ready["STATUS"].startswith("ready: 1 camera; MediaMTX ")
        assert receiver.messages[0] == {"STATUS": "starting"}
        first = len(receiver.messages)
        await receiver.wait_for("WATCHDOG")
        await task.deferLater(reactor, 1.0, lambda: None)
        pings = [m for m in receiver.messages[first:] if m.get("WATCHDOG") == "1"]
        assert 3 <= len(pings) <= 8  # every 0.2 s
        # a normal start: MediaMTX was "starting", never "down"
        health = await treq.get(f"http://127.0.0.1:{port}/health/mediamtx", timeout=2)
        assert health.code == 200, await health.text()
        assert await child.stop() == 0, child.stdout + child.stderr
        records = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
        alarms = [r for r in records if r["level"] in ("warn", "error", "critical")
                  and r["system"].startswith("camservice.mediamtx")]
        assert alarms == [], alarms
        stopping = [i for i, m in enumerate(receiver.messages) if m.get("STOPPING") == "1"]
        assert len(stopping) == 1
        assert not any("WATCHDOG" in m for m in receiver.messages[stopping[0]:])
    finally:
        await child.stop()
        await port_listening.stopListening()
        shutil.rmtree(folder)
