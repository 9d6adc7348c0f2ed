"""Telling systemd how the service is doing (``Type=notify``).

``sd_notify`` without libsystemd: one datagram per message to the unix
socket named by ``$NOTIFY_SOCKET`` (``@`` is the abstract namespace). With
no such variable (not under systemd, or a unit that is not
``Type=notify``) nothing is sent, and nothing fails.

The ``systemd`` child sends ``STATUS=`` lines while the tree starts,
``READY=1`` once every earlier child has started (the API listens by then),
``STOPPING=1`` first at stop, and ``WATCHDOG=1`` from a ``LoopingCall`` at
half of ``$WATCHDOG_USEC``: the pings come from the reactor, so a blocked
reactor stops them and systemd restarts the service, which is the point.
"""
from __future__ import annotations

import os
import socket
from typing import Callable, Mapping, Optional

from twisted.application import service
from twisted.internet import task
from twisted.logger import Logger

__all__ = ["Notifier", "SystemdService", "watchdog_interval"]

log = Logger(namespace="camservice.ops.systemd")


def watchdog_interval(environ: Mapping[str, str], pid: int) -> Optional[float]:
    """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or
    None when systemd expects none from this process."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    watched = environ.get("WATCHDOG_PID")
    if usec <= 0 or (watched and watched != str(pid)):
        return None
    return usec / 2e6


class Notifier:
    """Sends ``sd_notify`` messages to ``$NOTIFY_SOCKET``, if any.

    :param environ: where ``NOTIFY_SOCKET`` is read.
    """

    def __init__(self, environ: Mapping[str, str] = os.environ):
        name = environ.get("NOTIFY_SOCKET", "")
        self.address: Optional[str] = None
        if name.startswith("@"):
            self.address = "\0" + name[1:]
        elif name.startswith("/"):
            self.address = name
        self._socket: Optional[socket.socket] = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines (``send(READY="1", STATUS="ready")``);
        whether systemd got them. Never raises: a lost notification must
        not stop the service."""
        if self.address is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode("utf-8")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            self._socket.sendto(message, self.address)
        except OSError as e:
            if not self._failed:  # once, not at every ping
                self._failed = True
                log.warn("cannot notify systemd at {socket}: {reason}",
                         socket=self.address.replace("\0", "@"), reason=e.strerror or str(e))
            return False
        self._failed = False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class SystemdService(service.Service):
    """The last child of the tree: ready once all before it started.

    :param notifier: where messages go.
    :param clock: runs the watchdog pings.
    :param status: ``status() -> str``, the ``STATUS=`` line once ready
        (e.g. "ready: 2 cameras; MediaMTX up"), sent again when it changes.
    :param environ: where ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` are read.
    :param status_interval: seconds between status checks without a
        watchdog.
    """

    def __init__(self, notifier: Notifier, clock, status: Callable[[], str], environ: Mapping[str, str] = os.environ,
                 status_interval: float = 10.0, pid: Optional[int] = None):
        self.notifier = notifier
        self._clock = clock
        self._status = status
        self._interval = watchdog_interval(environ, os.getpid() if pid is None else pid)
        self._status_interval = status_interval
        self._loop: Optional[task.LoopingCall] = None
        self._last_status: Optional[str] = None

    def privilegedStartService(self) -> None:
        # runs for every child before any starts: the tree is starting
        super().privilegedStartService()
        self.notifier.send(STATUS="starting")

    def startService(self) -> None:
        super().startService()
        if not self.notifier.enabled:
            return
        self._last_status = self._safe_status()
        self.notifier.send(READY="1", STATUS=self._last_status)
        log.info("told systemd the service is ready", status=self._last_status, watchdog=self._interval)
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self._clock
        self._loop.start(self._interval or self._status_interval, now=False).addErrback(
            lambda f: log.failure("systemd notifications stopped", f)
        )

    def _safe_status(self) -> str:
        try:
            return self._status()
        except Exception:
            log.failure("cannot describe the status for systemd")
            return "running"

    def _tick(self) -> None:
        fields = {"WATCHDOG": "1"} if self._interval else {}
        status = self._safe_status()
        if status != self._last_status:
            self._last_status = status
            fields["STATUS"] = status
        if fields:
            self.notifier.send(**fields)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        self.notifier.send(STOPPING="1", STATUS="stopping")
