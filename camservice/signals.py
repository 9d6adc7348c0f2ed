"""Process signals: SIGTERM and SIGINT stop the service with exit status 0;
SIGHUP reloads the configuration.

twistd's own handlers remember the signal and, once the reactor stopped,
kill the process with it again, so the exit status says "killed by SIGTERM"
rather than 0. A stop that went cleanly is a success, so this service
replaces those two handlers once the reactor runs.

SIGHUP's default action ends the process, and the API answers before the
last parts of the tree have started: the SIGHUP handler is installed
before anything starts (``privilegedStartService``), and a reload asked
for while the tree is still starting runs once this service, the last
child, has started.
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
        self._reload_pending = False

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._install_hangup()

    def startService(self) -> None:
        super().startService()
        self._reactor.callWhenRunning(self._install)
        if self._reload_pending:
            self._reload_pending = False
            self._reactor.callLater(0, self._reload)

    def _install_hangup(self) -> None:
        if self._on_reload is not None and signal.SIGHUP not in self._previous:
            self._previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)

    def _install(self) -> None:
        if not self.running:
            return
        for signum in _STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_stop_signal)
        self._install_hangup()

    def _on_hangup(self, signum, frame) -> None:
        # only schedule: the handler runs between two bytecodes of anything
        self._reactor.callFromThread(self._reload)

    def _reload(self) -> None:
        if not self.running:
            self.log.info("received SIGHUP while starting: reloading once every part has started")
            self._reload_pending = True
            return
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
