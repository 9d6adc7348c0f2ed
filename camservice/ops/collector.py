"""When the cycle collector's full passes run, and what they walk.

CPython's full collection (generation 2) walks every tracked object that
is not frozen, in one go, in the reactor thread, and no request is read
while it runs. An open connection is about 40 such objects, so with a
thousand clients a full pass took some 10 ms. Objects that live as long
as their connection need no such walk: a closed connection leaves no
reference cycle (:meth:`camservice.server.protocol.RpcProtocol._let_go`),
so reference counting frees it even when it is frozen. So, besides the
freeze once the service has started
(:func:`camservice.memory.freeze_startup_objects`):

- once a burst of new connections has settled (``burst`` or more opened,
  then ``settle`` seconds without a new one), the young generations are
  collected and everything alive is frozen (``gc.freeze``): later full
  passes walk only what came after;
- the same after a reload is applied (the new configuration and what was
  built from it live until the next one);
- a frozen object that later becomes part of a garbage cycle is not
  collected while frozen (there are few: connections make none); once the
  last client has gone, ``settle`` seconds later, everything is unfrozen,
  collected in one full pass and frozen again, while no client waits.

The collector's thresholds stay CPython's own: with requests making no
cyclic garbage, young collections are short (well under a millisecond)
whatever their frequency.
"""
from __future__ import annotations

import gc
from typing import Optional

__all__ = ["CollectorSchedule"]


class CollectorSchedule:
    """Freezes what lives long, at the moments named above.

    :param clock: ``IReactorTime``.
    :param burst: new connections that make a burst worth a freeze.
    :param settle: seconds without a new connection that end a burst, and
        that the service stays without clients before the full pass.
    :param collector: the ``gc`` module (its ``collect``, ``freeze`` and
        ``unfreeze``).
    """

    def __init__(self, clock, burst: int = 50, settle: float = 2.0, collector=gc):
        self._clock = clock
        self._burst = burst
        self._settle = settle
        self._gc = collector
        self._new = 0
        self._last_open = 0.0
        self._settle_call = None
        self._idle_call = None
        #: frozen since the last full pass: frozen garbage may be waiting
        self._frozen = False

    def opened(self) -> None:
        """A connection opened."""
        self._cancel_idle()
        self._new += 1
        self._last_open = self._clock.seconds()
        if self._new >= self._burst and self._settle_call is None:
            self._settle_call = self._clock.callLater(self._settle, self._settled)

    def _settled(self) -> None:
        self._settle_call = None
        quiet_for = self._clock.seconds() - self._last_open
        if quiet_for < self._settle:
            self._settle_call = self._clock.callLater(self._settle - quiet_for, self._settled)
            return
        self._new = 0
        self._freeze()

    def reloaded(self) -> None:
        """A new configuration was applied."""
        self._freeze()

    def _freeze(self) -> None:
        self._gc.collect(1)
        self._gc.freeze()
        self._frozen = True

    def all_closed(self) -> None:
        """The last client has gone."""
        if self._frozen and self._idle_call is None:
            self._idle_call = self._clock.callLater(self._settle, self._full_pass)

    def _full_pass(self) -> None:
        self._idle_call = None
        self._gc.unfreeze()
        self._gc.collect()
        self._gc.freeze()
        self._frozen = False

    def _cancel_idle(self) -> None:
        if self._idle_call is not None:
            if self._idle_call.active():
                self._idle_call.cancel()
            self._idle_call = None

    def stop(self) -> None:
        """Cancel what is scheduled (the service is stopping)."""
        self._cancel_idle()
        if self._settle_call is not None:
            if self._settle_call.active():
                self._settle_call.cancel()
            self._settle_call = None

    @property
    def pending(self) -> Optional[str]:
        """What is scheduled: ``"freeze"``, ``"full pass"`` or ``None``."""
        if self._settle_call is not None:
            return "freeze"
        if self._idle_call is not None:
            return "full pass"
        return None
