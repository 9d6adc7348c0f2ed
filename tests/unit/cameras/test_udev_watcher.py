"""UdevWatcher: a pyudev netlink monitor read by the reactor, reopened
with backoff when it breaks. A fake monitor (``fakes.udev.FakeMonitor``)
stands in for pyudev's, and ``MemoryReactorClock`` records the reader."""
from __future__ import annotations

import errno

import pyudev
import pytest
from twisted.internet.interfaces import IReadDescriptor

from camservice.cameras.devices import DeviceInfo
from camservice.cameras.udev import SUBSYSTEM, UdevWatcher, enumerate_devices

from fakes.udev import FakeDevice, FakeMonitor, FakeNetlink, FakeUdevContext

NOW = 1_700_000_000.0
MAX_DELAY = 5.0


@pytest.fixture
def reactor(memory_reactor):
    return memory_reactor


@pytest.fixture
def netlink(monkeypatch):
    n = FakeNetlink()
    monkeypatch.setattr(pyudev.Monitor, "from_netlink", n)
    return n


@pytest.fixture
def watch(reactor, netlink):
    """``(watcher, events, reopened)``, started."""
    events, reopened = [], []
    context = FakeUdevContext()
    watcher = UdevWatcher(context, reactor, lambda action, info: events.append((action, info)),
                          lambda: reopened.append(reactor.seconds()), reopen_max_delay=MAX_DELAY)
    watcher.start()
    yield watcher, events, reopened, context
    watcher.stop()


def fail_once(watcher, netlink, reactor):
    """The current monitor breaks while being read."""
    netlink.current.error = OSError(errno.ENOBUFS, "No buffer space available")
    watcher.doRead()


def test_start_opens_a_filtered_monitor_and_registers_as_reader(watch, netlink, reactor):
    watcher, _, _, _ = watch
    assert IReadDescriptor.providedBy(watcher)
    monitor = netlink.current
    assert monitor.filters == [SUBSYSTEM] and monitor.started
    assert watcher in reactor.readers and watcher.fileno() == monitor.fd
    assert watcher.running


def test_start_ignores_a_receive_buffer_it_may_not_enlarge(reactor, monkeypatch):
    monitor = FakeMonitor()
    monitor.buffer_error = PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(pyudev.Monitor, "from_netlink", lambda context, source="udev": monitor)
    watcher = UdevWatcher(FakeUdevContext(), reactor, lambda *a: None, lambda: None)
    watcher.start()
    assert monitor.started and watcher in reactor.readers
    watcher.stop()


def test_start_fails_when_netlink_cannot_be_opened(reactor, netlink):
    netlink.broken = True
    watcher = UdevWatcher(FakeUdevContext(), reactor, lambda *a: None, lambda: None)
    with pytest.raises(OSError):
        watcher.start()
    assert not watcher.running and reactor.readers == set()


def test_one_read_delivers_every_pending_event_in_order(watch, netlink):
    watcher, events, _, context = watch
    cam = context.plug(0, serial="Logitech_C920_7B2F3C9F", id_path="pci-0000:00:14.0-usb-0:1:1.0")
    meta = context.plug(1, capture=False)
    media = FakeDevice("/sys/devices/fake/media0", "/dev/media0", {"DEVNAME": "/dev/media0"})
    netlink.current.emit(cam, "add")
    netlink.current.emit(meta, "add")
    netlink.current.emit(media, "add")  # not a /dev/videoN node: not reported
    netlink.current.emit(cam, "remove")
    watcher.doRead()
    assert [(action, info.node) for action, info in events] == [
        ("add", "/dev/video0"), ("add", "/dev/video1"), ("remove", "/dev/video0")]
    assert netlink.current.queue == []
    info = events[0][1]
    assert info == DeviceInfo(
        node="/dev/video0", syspath="/sys/devices/fake/video4linux/video0", name="Webcam",
        capabilities=":capture:", serial="Logitech_C920_7B2F3C9F", id_path="pci-0000:00:14.0-usb-0:1:1.0",
        vendor_id="046d", product_id="082d",
    )
    assert events[1][1].may_capture is False


def test_a_read_with_nothing_pending_delivers_nothing(watch):
    watcher, events, reopened, _ = watch
    watcher.doRead()
    assert events == [] and reopened == [] and watcher.running


def test_a_broken_monitor_is_closed_and_reopened_after_a_second(watch, netlink, reactor):
    watcher, events, reopened, context = watch
    first = netlink.current
    fail_once(watcher, netlink, reactor)
    assert watcher not in reactor.readers and not watcher.running and watcher.fileno() == -1
    reactor.advance(0.999)
    assert netlink.attempts == 1 and reopened == []
    reactor.advance(0.002)
    assert netlink.attempts == 2 and netlink.current is not first
    assert watcher in reactor.readers and watcher.fileno() == netlink.current.fd
    assert len(reopened) == 1  # told once, to rescan for what was missed
    netlink.current.emit(context.plug(2), "add")
    watcher.doRead()
    assert [(a, i.node) for a, i in events] == [("add", "/dev/video2")]


def test_reopen_attempts_back_off_up_to_the_maximum(watch, netlink, reactor):
    watcher, _, reopened, _ = watch
    fail_once(watcher, netlink, reactor)
    netlink.broken = True
    start = reactor.seconds()
    times = []
    for _ in range(6):
        before = netlink.attempts
        while netlink.attempts == before:
            reactor.advance(0.5)
        times.append(reactor.seconds() - start)
    # 1, then 2, 4, then capped at 5 s between attempts
    assert times == [1.0, 3.0, 7.0, 12.0, 17.0, 22.0]
    assert reopened == []  # not while it fails
    netlink.broken = False
    reactor.advance(MAX_DELAY)
    assert watcher.running and len(reopened) == 1


def test_the_backoff_step_is_exact(watch, netlink, reactor):
    watcher, _, _, _ = watch
    fail_once(watcher, netlink, reactor)
    netlink.broken = True
    reactor.advance(1.0)   # attempt 2 fails: next in 2 s
    reactor.advance(1.999)
    assert netlink.attempts == 2
    reactor.advance(0.002)
    assert netlink.attempts == 3


def test_a_monitor_that_breaks_again_right_after_reopening_waits_longer(watch, netlink, reactor):
    watcher, _, reopened, _ = watch
    fail_once(watcher, netlink, reactor)
    reactor.advance(1.0)
    assert watcher.running
    fail_once(watcher, netlink, reactor)  # no good read in between
    reactor.advance(1.999)
    assert not watcher.running
    reactor.advance(0.002)
    assert watcher.running and len(reopened) == 2


def test_a_good_read_resets_the_backoff(watch, netlink, reactor):
    watcher, _, _, _ = watch
    fail_once(watcher, netlink, reactor)
    reactor.advance(1.0)
    fail_once(watcher, netlink, reactor)
    reactor.advance(2.0)
    watcher.doRead()  # works
    fail_once(watcher, netlink, reactor)
    reactor.advance(0.999)
    assert not watcher.running
    reactor.advance(0.002)
    assert watcher.running


def test_a_lost_descriptor_is_reopened_too(watch, netlink, reactor):
    watcher, _, reopened, _ = watch
    reactor.removeReader(watcher)  # what the reactor does before connectionLost
    watcher.connectionLost(None)
    assert not watcher.running
    reactor.advance(1.0)
    assert watcher.running and watcher in reactor.readers and len(reopened) == 1


def test_stop_cancels_a_pending_reopen(watch, netlink, reactor):
    watcher, _, reopened, _ = watch
    fail_once(watcher, netlink, reactor)
    assert len(reactor.getDelayedCalls()) == 1
    watcher.stop()
    assert reactor.getDelayedCalls() == []
    reactor.advance(60)
    assert netlink.attempts == 1 and reopened == [] and not watcher.running


def test_stop_unregisters_the_reader(watch, reactor):
    watcher, _, _, _ = watch
    watcher.stop()
    assert reactor.readers == set() and not watcher.running
    watcher.connectionLost(None)  # a late notice changes nothing
    assert reactor.getDelayedCalls() == []


def test_enumerate_lists_video_nodes_in_number_order():
    context = FakeUdevContext()
    context.plug(10)
    context.plug(2, capture=False)
    context.devices.append(FakeDevice("/sys/devices/fake/media0", "/dev/media0", {"DEVNAME": "/dev/media0"}))
    context.plug(0)
    assert [i.node for i in enumerate_devices(context)] == ["/dev/video0", "/dev/video2", "/dev/video10"]
