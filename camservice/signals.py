"""Process signals: SIGTERM and SIGINT stop the service with exit status 0.

twistd's own handlers remember the signal and, once the reactor stopped,
kill the process with it again, so the exit status says "killed by SIGTERM"
rather than 0. A stop that went cleanly is a success, so this service
replaces those two handlers once the reactor runs.
"""
from __future__ import annotations

import signal
from typing import Optional

from twisted.application import service
from twisted.logger import Logger

__all__ = ["SignalService"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalService(service.Service):
    """Installs the stop handlers while running (main thread only).

    :param reactor: the reactor to stop.
    """

    log = Logger()

    def __init__(self, reactor):
        self._reactor = reactor
        self._previous: dict[int, object] = {}
        self._call: Optional[object] = None

    def startService(self) -> None:
        super().startService()
        self._reactor.callWhenRunning(self._install)

    def _install(self) -> None:
        if not self.running:
            return
        for signum in _STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum, frame) -> None:
        self._reactor.callFromThread(self._stop, signal.Signals(signum).name)

    def _stop(self, name: str) -> None:
        self.log.info("received {signal}, stopping", signal=name)
        if self._reactor.running:
            self._reactor.stop()

    def stopService(self) -> None:
        super().stopService()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
