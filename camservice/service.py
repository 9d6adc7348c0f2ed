"""The root of the service tree, and the state every child reports.

``MultiService`` starts children without waiting and stops them hiding
their failures. :class:`ServiceTree` starts them one after another in
dependency order, waiting on each, and stops them in reverse, logging every
child that fails and passing the first failure to the caller.
"""
from __future__ import annotations

import enum
from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer
from twisted.logger import ILogObserver, Logger

from camservice._defer import async_to_deferred
from camservice.errors import StartupError

__all__ = ["Component", "ComponentState", "ServiceTree"]


class ComponentState(str, enum.Enum):
    """What ``get_status`` reports for a component (API.md)."""

    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
    STARTING = "STARTING"
    STOPPING = "STOPPING"


class Component(service.Service):
    """A child service that reports its :class:`ComponentState`.

    Subclasses override :meth:`start` and :meth:`stop` (coroutines or plain
    methods) instead of ``startService``/``stopService``.
    """

    log = Logger()

    def __init__(self) -> None:
        self.state = ComponentState.STOPPED
        self.error: Optional[str] = None

    def startService(self) -> defer.Deferred:
        service.Service.startService(self)
        return self._enter(ComponentState.STARTING, self.start, None)

    def stopService(self) -> defer.Deferred:
        service.Service.stopService(self)
        return self._enter(ComponentState.STOPPING, self.stop, ComponentState.STOPPED)

    def _enter(self, transient: ComponentState, action, final: Optional[ComponentState]) -> defer.Deferred:
        """Run ``action`` in state ``transient``; ``final`` once it is done,
        ``ERROR`` (with :attr:`error` set) if it fails."""
        self.state = transient

        def done(_):
            self.state = final if final is not None else self.started_state()

        def failed(f):
            self.state = ComponentState.ERROR
            self.error = f.getErrorMessage()
            return f

        return defer.maybeDeferred(action).addCallbacks(done, failed)

    def started_state(self) -> ComponentState:
        """The state once :meth:`start` is done (a component that depends
        on something outside may still be waiting for it)."""
        return ComponentState.RUNNING

    def start(self):
        """Bring the component up; may return a Deferred."""

    def stop(self):
        """Tear down what :meth:`start` built; may return a Deferred that
        fires once everything has really stopped."""


class ServiceTree(service.MultiService):
    """The root ``MultiService``: ordered, awaited start and stop.

    :param on_start_failure: called with the failure if a child fails to
        start after the reactor runs (the tap stops the process then).
    :param log_observer: offered to twistd as the application's
        ``ILogObserver`` when the tree is attached to it.
    """

    log = Logger()

    def __init__(self, on_start_failure: Optional[Callable] = None, log_observer=None):
        super().__init__()
        self._on_start_failure = on_start_failure
        self.log_observer = log_observer
        self.started: Optional[defer.Deferred] = None

    def setServiceParent(self, parent) -> None:
        super().setServiceParent(parent)
        # twistd attaches the tree to its Application and then starts
        # logging with the Application's ILogObserver component, if any.
        set_component = getattr(parent, "setComponent", None)
        if self.log_observer is not None and set_component is not None:
            if parent.getComponent(ILogObserver, None) is None:
                set_component(ILogObserver, self.log_observer)

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except StartupError as e:
            self.log.critical("cannot start: {reason}", reason=str(e))
            raise SystemExit(f"camservice: {e}")

    def startService(self) -> defer.Deferred:
        service.Service.startService(self)
        self.started = self._start_children()
        if self._on_start_failure is not None:
            self.started.addErrback(self._on_start_failure)
        return self.started

    @async_to_deferred
    async def _start_children(self) -> None:
        for child in list(self):
            try:
                await defer.maybeDeferred(child.startService)
            except Exception:
                self.log.failure("service {service} failed to start", service=child.name)
                raise
        self.log.info("all services started")

    def stopService(self) -> defer.Deferred:
        service.Service.stopService(self)
        return self._stop_children()

    @async_to_deferred
    async def _stop_children(self) -> None:
        first_error = None
        for child in reversed(list(self)):
            if not child.running:
                continue
            try:
                await defer.maybeDeferred(child.stopService)
            except Exception as e:
                self.log.failure("service {service} failed to stop", service=child.name)
                first_error = first_error or e
        if first_error is not None:
            raise first_error
