"""udev in the reactor: a pyudev netlink monitor whose file descriptor the
reactor watches (no thread, no busy poll), plus enumeration.

If the monitor fails it is closed and reopened with backoff (1 s doubling
up to ``reopen_max_delay``); the owner is told so it can rescan (events may
have been missed meanwhile).
"""
from __future__ import annotations

from typing import Callable

from twisted.internet import interfaces
from twisted.logger import Logger
from zope.interface import implementer

from camservice.cameras.devices import DeviceInfo, info_from_udev

__all__ = ["UdevWatcher", "enumerate_devices", "udev_available"]

SUBSYSTEM = "video4linux"
RECEIVE_BUFFER = 4 * 1024 * 1024


def udev_available(run_udev: str = "/run/udev") -> bool:
    """Whether a udev daemon keeps a device database (not in most
    containers)."""
    import os

    return os.path.isdir(run_udev)


def enumerate_devices(context) -> list[DeviceInfo]:
    """Every ``/dev/videoN`` libudev knows of (reads sysfs; works without
    a udev daemon, with fewer properties)."""
    found = []
    for device in context.list_devices(subsystem=SUBSYSTEM):
        info = info_from_udev(device)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda i: i.number)


@implementer(interfaces.IReadDescriptor)
class UdevWatcher:
    """Delivers ``video4linux`` uevents as ``on_event(action, DeviceInfo)``.

    :param context: a ``pyudev.Context``.
    :param reactor: ``IReactorFDSet`` and ``IReactorTime``.
    :param on_reopened: called after the monitor was reopened (rescan).
    """

    log = Logger()

    def __init__(
        self,
        context,
        reactor,
        on_event: Callable[[str, DeviceInfo], None],
        on_reopened: Callable[[], None],
        reopen_max_delay: float = 30.0,
    ):
        self._context = context
        self._reactor = reactor
        self._on_event = on_event
        self._on_reopened = on_reopened
        #: the longest wait between reopening attempts (a reload may change it)
        self.max_delay = reopen_max_delay
        self._monitor = None
        self._delay = 1.0
        self._reopen_call = None
        self.opened = 0

    def start(self) -> None:
        """Open the monitor and start watching it.

        :raises OSError: the netlink socket cannot be opened.
        """
        import pyudev

        monitor = pyudev.Monitor.from_netlink(self._context)
        monitor.filter_by(SUBSYSTEM)
        try:
            # room for a burst (a hub of cameras plugged at once); needs
            # CAP_NET_ADMIN, so it is best effort
            monitor.set_receive_buffer_size(RECEIVE_BUFFER)
        except (OSError, EnvironmentError):
            pass
        monitor.start()
        self._monitor = monitor
        self.opened += 1
        self._reactor.addReader(self)

    def stop(self) -> None:
        if self._reopen_call is not None and self._reopen_call.active():
            self._reopen_call.cancel()
        self._reopen_call = None
        self._close()

    @property
    def running(self) -> bool:
        return self._monitor is not None

    def _close(self) -> None:
        if self._monitor is not None:
            self._reactor.removeReader(self)
            # pyudev closes the netlink socket when the monitor is freed
            self._monitor = None

    # -- IReadDescriptor --------------------------------------------------

    def fileno(self) -> int:
        return self._monitor.fileno() if self._monitor is not None else -1

    def logPrefix(self) -> str:
        return "udev"

    def doRead(self) -> None:
        try:
            while True:
                device = self._monitor.poll(timeout=0)
                if device is None:
                    break
                info = info_from_udev(device)
                if info is not None:
                    self._on_event(device.action, info)
            self._delay = 1.0
        except (OSError, ValueError) as e:
            self.log.error("udev monitor failed ({error}); reopening", error=str(e))
            self._close()
            self._schedule_reopen()

    def connectionLost(self, reason) -> None:
        if self._monitor is not None:
            self._monitor = None
            self._schedule_reopen()

    def _schedule_reopen(self) -> None:
        delay, self._delay = self._delay, min(self._delay * 2, self.max_delay)
        self._reopen_call = self._reactor.callLater(delay, self._reopen)

    def _reopen(self) -> None:
        self._reopen_call = None
        try:
            self.start()
        except OSError as e:
            self.log.error("cannot reopen the udev monitor ({error}); retrying", error=str(e))
            self._schedule_reopen()
            return
        self.log.info("udev monitor reopened")
        self._on_reopened()
