"""SIGHUP during start-up: the handler is in place before any part starts
(the default action would end the process), and the reload it asks for
runs once the tree has started."""
from __future__ import annotations

import os
import signal

from twisted.internet.task import Clock

from camservice.signals import SignalService


class _Reactor(Clock):
    def callFromThread(self, f, *args):
        f(*args)

    def callWhenRunning(self, f, *args):
        f(*args)


def test_a_sighup_before_the_tree_started_reloads_once_it_has():
    reactor = _Reactor()
    reloads = []
    before = signal.getsignal(signal.SIGHUP)
    signals = SignalService(reactor, on_reload=lambda: reloads.append(reactor.seconds()))
    signals.privilegedStartService()
    try:
        assert signal.getsignal(signal.SIGHUP) == signals._on_hangup
        os.kill(os.getpid(), signal.SIGHUP)  # the API answers, the tree is still starting
        os.kill(os.getpid(), signal.SIGHUP)
        assert reloads == []
        reactor.advance(5)
        signals.startService()
        reactor.advance(0)
        assert reloads == [5]  # one reload for the two signals
        os.kill(os.getpid(), signal.SIGHUP)
        assert reloads == [5, 5]
    finally:
        signals.stopService()
    assert signal.getsignal(signal.SIGHUP) == before


def test_without_a_reload_sighup_is_left_alone():
    before = signal.getsignal(signal.SIGHUP)
    signals = SignalService(_Reactor())
    signals.privilegedStartService()
    signals.startService()
    try:
        assert signal.getsignal(signal.SIGHUP) == before
    finally:
        signals.stopService()
