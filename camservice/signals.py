"""Process signals: SIGTERM and SIGINT stop the service with exit status 0;
SIGHUP reloads the configuration.

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
    :param on_reload: called (no arguments) in the reactor thread on
        SIGHUP; ``None`` leaves SIGHUP alone.
    """

    log = Logger()

    def __init__(self, reactor, on_reload=None):
        self._reactor = reactor
        self._on_reload = on_reload
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
        if self._on_reload is not None:
            self._previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)

    def _on_hangup(self, signum, frame) -> None:
        # only schedule: the handler runs between two bytecodes of anything
        self._reactor.callFromThread(self._reload)

    def _reload(self) -> None:
        self.log.info("received SIGHUP, reloading the configuration")
        self._on_reload()

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
