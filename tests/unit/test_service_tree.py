"""Ordered, awaited start and stop of the service tree."""
from __future__ import annotations

import pytest
from twisted.application.service import Application, IService
from twisted.internet import defer
from twisted.logger import ILogObserver

from camservice.errors import StartupError
from camservice.service import Component, ComponentState, ServiceTree


class Recorder(Component):
    def __init__(self, journal, name, start_d=None, stop_d=None, fail_start=False, fail_privileged=False):
        super().__init__()
        self.journal = journal
        self.setName(name)
        self._start_d = start_d
        self._stop_d = stop_d
        self._fail_start = fail_start
        self._fail_privileged = fail_privileged

    def privilegedStartService(self):
        if self._fail_privileged:
            raise StartupError("port 8002 is taken")
        super().privilegedStartService()

    def start(self):
        self.journal.append(("start", self.name))
        if self._fail_start:
            raise RuntimeError("cannot")
        return self._start_d

    def stop(self):
        self.journal.append(("stop", self.name))
        return self._stop_d


def _tree(*children, **kw):
    tree = ServiceTree(**kw)
    for child in children:
        child.setServiceParent(tree)
    return tree


def test_children_start_in_order_waiting_for_each_and_stop_in_reverse():
    journal = []
    gate = defer.Deferred()
    a = Recorder(journal, "a", start_d=gate)
    b = Recorder(journal, "b")
    tree = _tree(a, b)
    started = tree.startService()
    assert journal == [("start", "a")]
    assert a.state is ComponentState.STARTING and b.state is ComponentState.STOPPED
    assert not started.called
    gate.callback(None)
    assert journal == [("start", "a"), ("start", "b")]
    assert started.called
    assert a.state is b.state is ComponentState.RUNNING

    stop_gate = defer.Deferred()
    b._stop_d = stop_gate
    stopped = tree.stopService()
    assert journal[-1] == ("stop", "b") and not stopped.called
    assert b.state is ComponentState.STOPPING
    stop_gate.callback(None)
    assert journal[-1] == ("stop", "a")
    assert stopped.called
    assert a.state is b.state is ComponentState.STOPPED


def test_start_failure_stops_starting_reports_and_marks_error():
    journal, failures = [], []
    a = Recorder(journal, "a", fail_start=True)
    b = Recorder(journal, "b")
    tree = _tree(a, b, on_start_failure=failures.append)
    tree.startService()
    assert journal == [("start", "a")]
    assert a.state is ComponentState.ERROR and a.error == "cannot"
    assert len(failures) == 1
    failures[0].trap(RuntimeError)


def test_stop_failure_still_stops_the_rest_and_passes_the_error_up():
    journal = []
    a = Recorder(journal, "a")
    b = Recorder(journal, "b", stop_d=defer.fail(RuntimeError("stuck")))
    tree = _tree(a, b)
    tree.startService()
    result = []
    tree.stopService().addErrback(result.append)
    assert journal[-2:] == [("stop", "b"), ("stop", "a")]
    assert result and result[0].check(RuntimeError)


def test_startup_error_at_bind_time_exits_with_a_message():
    tree = _tree(Recorder([], "api", fail_privileged=True))
    with pytest.raises(SystemExit) as info:
        tree.privilegedStartService()
    assert str(info.value.code) == "camservice: port 8002 is taken"


def test_attaching_to_an_application_offers_the_log_observer():
    # twistd attaches the tree with setServiceParent(application), then
    # starts logging with the application's ILogObserver component.
    observer = object()
    application = Application("camservice")
    ServiceTree(log_observer=observer).setServiceParent(application)
    assert application.getComponent(ILogObserver) is observer
    assert IService(application).getServiceNamed  # the tree is a child


def test_an_observer_already_set_is_kept():
    application = Application("camservice")
    mine = object()
    application.setComponent(ILogObserver, mine)
    ServiceTree(log_observer=object()).setServiceParent(application)
    assert application.getComponent(ILogObserver) is mine
