"""sd_notify to a real datagram socket the test binds; time on a Clock."""
from __future__ import annotations

import os
import socket
import tempfile

import pytest
from twisted.internet.task import Clock

from camservice.ops.systemd import Notifier, SystemdService, watchdog_interval


@pytest.fixture
def listener():
    """A bound datagram socket (short path: sun_path holds 108 bytes)."""
    folder = tempfile.mkdtemp(prefix="sd-")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()
    os.unlink(path)
    os.rmdir(folder)


def received(sock) -> list[dict]:
    messages = []
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return messages
        messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))


def test_nothing_is_sent_outside_systemd():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.send(READY="1") is False
    service = SystemdService(notifier, Clock(), lambda: "ready", environ={"WATCHDOG_USEC": "1000000"})
    service.privilegedStartService()
    service.startService()
    service.stopService()  # no socket, no loop, no error


def test_ready_status_watchdog_and_stopping(listener):
    sock, path = listener
    clock = Clock()
    state = {"text": "ready: 1 camera; MediaMTX up"}
    service = SystemdService(Notifier({"NOTIFY_SOCKET": path}), clock, lambda: state["text"],
                             environ={"WATCHDOG_USEC": "30000000"})
    service.privilegedStartService()
    assert received(sock) == [{"STATUS": "starting"}]
    service.startService()
    assert received(sock) == [{"READY": "1", "STATUS": "ready: 1 camera; MediaMTX up"}]
    clock.advance(14.9)
    assert received(sock) == []
    clock.advance(0.1)  # half of WatchdogSec
    assert received(sock) == [{"WATCHDOG": "1"}]
    state["text"] = "ready: 1 camera; MediaMTX down"
    clock.advance(15)
    assert received(sock) == [{"WATCHDOG": "1", "STATUS": "ready: 1 camera; MediaMTX down"}]
    service.stopService()
    assert received(sock) == [{"STOPPING": "1", "STATUS": "stopping"}]
    clock.advance(60)
    assert received(sock) == []  # no ping after stop


def test_without_a_watchdog_only_status_changes_are_sent(listener):
    sock, path = listener
    clock = Clock()
    state = {"text": "ready: 0 cameras; MediaMTX up"}
    service = SystemdService(Notifier({"NOTIFY_SOCKET": path}), clock, lambda: state["text"], environ={},
                             status_interval=10)
    service.startService()
    received(sock)
    clock.advance(30)
    assert received(sock) == []
    state["text"] = "ready: 0 cameras; MediaMTX down"
    clock.advance(10)
    assert received(sock) == [{"STATUS": "ready: 0 cameras; MediaMTX down"}]
    service.stopService()


def test_the_abstract_namespace_is_reached_with_an_at_sign():
    name = f"camservice-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).send(READY="1")
        assert received(sock) == [{"READY": "1"}]
    finally:
        sock.close()


def test_a_missing_socket_is_logged_once_and_never_raises(tmp_path, log_events):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    events = log_events("camservice.ops.systemd")
    assert notifier.send(READY="1") is False
    assert notifier.send(WATCHDOG="1") is False
    warnings = [e for e in events if e.get("socket") == str(tmp_path / "gone")]
    assert len(warnings) == 1 and warnings[0]["log_level"].name == "warn"


@pytest.mark.parametrize("environ, expected", [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, None),  # another process is watched
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_is_half_of_watchdog_usec(environ, expected):
    assert watchdog_interval(environ, 42) == expected
