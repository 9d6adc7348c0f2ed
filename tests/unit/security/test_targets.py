"""Where stream URLs may point: loopback, link-local, unspecified,
multicast and camservice's own ports are refused unless allowed."""
from __future__ import annotations

import pytest
from twisted.internet import defer

from camservice.security.errors import TargetRefused
from camservice.security.targets import TargetPolicy, parse_allowed_target, resolver
from camservice.security.urls import parse_stream_url
from helpers.deferreds import fails_with, outcome

OWN = (8002, 9997, 8554, 8888, 8889)
LOCAL = "must not point at this machine or a loopback, link-local, unspecified or multicast address"
OWN_PORT = "must not point at one of camservice's own ports"


def policy(allowed=(), names=None, local=()):
    names = names or {}

    def resolve(host):
        if host not in names:
            return defer.fail(OSError("not known"))
        return defer.succeed(names[host])

    return TargetPolicy(allowed, OWN, resolve, is_local=lambda a: str(a) in local)


def check(p, url):
    return defer.ensureDeferred(p.check(parse_stream_url(url)))


@pytest.mark.parametrize("url", [
    "rtsp://127.0.0.1/x", "rtsp://127.8.9.1:554/x", "rtsp://[::1]:554/x", "rtsp://[::ffff:127.0.0.1]:554/x",
    "rtsp://169.254.1.1/x", "rtsp://[fe80::1]:554/x", "rtsp://0.0.0.0/x", "rtsp://0.1.2.3/x",
    "rtsp://224.0.0.1/x", "rtsp://[ff02::1]:554/x",
])
def test_internal_addresses_are_refused(url):
    assert fails_with(check(policy(), url), TargetRefused).rule == LOCAL


def test_names_resolving_to_internal_addresses_are_refused():
    p = policy(names={"sneaky.example": ["192.0.2.1", "127.0.0.1"], "cam.example": ["192.0.2.1"]})
    assert fails_with(check(p, "rtsp://sneaky.example/x"), TargetRefused).rule == LOCAL
    assert outcome(check(p, "rtsp://cam.example/x")) is None
    refused = fails_with(check(p, "rtsp://unknown.example/x"), TargetRefused)
    assert refused.rule == "has a host name that could not be resolved"


def test_own_ports_of_this_machine_are_refused_elsewhere_not():
    p = policy(local=("192.0.2.5",))
    assert fails_with(check(p, "rtsp://192.0.2.5:9997/x"), TargetRefused).rule == OWN_PORT
    assert outcome(check(p, "rtsp://192.0.2.5:554/x")) is None
    # the same port on another machine is an ordinary camera port
    assert outcome(check(p, "rtsp://192.0.2.6:8554/x")) is None


def test_allowed_targets_open_exactly_what_they_name():
    p = policy(["127.0.0.1", "[::1]:9997", "169.254.0.0/16", "cam.local:554"], names={"cam.local": ["127.0.0.2"]})
    assert outcome(check(p, "rtsp://127.0.0.1:1234/x")) is None
    # a host without a port never opens camservice's own ports
    assert fails_with(check(p, "rtsp://127.0.0.1:9997/x"), TargetRefused).rule == OWN_PORT
    assert outcome(check(p, "rtsp://[::1]:9997/x")) is None
    assert fails_with(check(p, "rtsp://[::1]:554/x"), TargetRefused).rule == LOCAL
    assert outcome(check(p, "rtsp://169.254.3.4/x")) is None
    assert outcome(check(p, "rtsp://cam.local:554/x")) is None
    assert fails_with(check(p, "rtsp://cam.local:555/x"), TargetRefused).rule == LOCAL


def test_check_literal_needs_no_lookup():
    p = policy()
    assert p.check_literal(parse_stream_url("rtsp://cam.example/x")) is False
    assert p.check_literal(parse_stream_url("rtsp://192.0.2.1/x")) is True
    with pytest.raises(TargetRefused):
        p.check_literal(parse_stream_url("rtsp://127.0.0.1/x"))


@pytest.mark.parametrize("entry, error", [
    ("127.0.0.1:0", "has a port that is not from 1 to 65535"),
    ("10.0.0.0/33", "is not a valid CIDR network"),
    ("[::1", "an IPv6 address with a port is written [address]:port"),
    ("a b", "is not a host name, an address or a CIDR network"),
    ("", "is not a host name, an address or a CIDR network"),
])
def test_bad_allowed_entries(entry, error):
    with pytest.raises(ValueError) as caught:
        parse_allowed_target(entry)
    assert str(caught.value) == error


def test_the_resolver_runs_in_a_thread_with_a_timeout(clock):
    """The real resolver hands getaddrinfo to the reactor's thread pool and
    gives up after the timeout (the reactor never waits)."""
    calls = []

    class Pool:
        pass

    class Reactor:
        def __init__(self):
            self.seconds = clock.seconds
            self.callLater = clock.callLater

        def getThreadPool(self):
            return Pool()

    import camservice.security.targets as targets

    original = targets.threads.deferToThreadPool
    pending = defer.Deferred()
    targets.threads.deferToThreadPool = lambda reactor, pool, f, *a: (calls.append((f, a)), pending)[1]
    try:
        d = resolver(Reactor(), 5.0)("cam.example")
    finally:
        targets.threads.deferToThreadPool = original
    assert calls and calls[0][1] == ("cam.example",)
    clock.advance(4.9)
    assert not d.called
    clock.advance(0.2)
    fails_with(d, defer.TimeoutError)
    p = TargetPolicy((), OWN, lambda host: defer.fail(defer.TimeoutError()))
    refused = fails_with(check(p, "rtsp://cam.example/x"), TargetRefused)
    assert refused.rule == "has a host name that could not be resolved in time"


def test_the_resolver_looks_names_up_for_real():
    """getaddrinfo itself, off the test's reactor: "localhost" is loopback."""
    from twisted.internet import reactor as real_reactor

    import camservice.security.targets as targets

    lookup = []
    original = targets.threads.deferToThreadPool
    targets.threads.deferToThreadPool = lambda reactor, pool, f, *a: (lookup.append(f(*a)), defer.succeed(lookup[-1]))[1]
    try:
        d = resolver(real_reactor, 5.0)("localhost")
    finally:
        targets.threads.deferToThreadPool = original
    addresses = outcome(d)
    assert addresses and all(a in ("127.0.0.1", "::1") for a in addresses)


def test_a_reload_changes_the_allowed_targets():
    p = policy()
    assert fails_with(check(p, "rtsp://127.0.0.1:1234/x"), TargetRefused).rule == LOCAL
    p.set_allowed(["127.0.0.1"])
    assert outcome(check(p, "rtsp://127.0.0.1:1234/x")) is None
    p.set_allowed([])
    assert fails_with(check(p, "rtsp://127.0.0.1:1234/x"), TargetRefused).rule == LOCAL


def test_a_reload_changes_the_resolver_timeout_and_the_own_ports(clock, monkeypatch):
    import camservice.security.targets as targets

    class Reactor:
        seconds = staticmethod(clock.seconds)
        callLater = staticmethod(clock.callLater)

        def getThreadPool(self):
            return None

    monkeypatch.setattr(targets.threads, "deferToThreadPool", lambda reactor, pool, f, *a: defer.Deferred())
    p = TargetPolicy((), OWN, resolver(Reactor(), 5.0))
    p.set_resolve_timeout(1.0)
    refused = check(p, "rtsp://cam.example/x")
    clock.advance(1.01)
    assert fails_with(refused, TargetRefused).rule == "has a host name that could not be resolved in time"
    # a port freed by a reload may be used; the new one may not
    p = policy(local=("192.0.2.1",))
    p.set_own_ports((7000,))
    assert outcome(check(p, "rtsp://192.0.2.1:8554/x")) is None
    assert fails_with(check(p, "rtsp://192.0.2.1:7000/x"), TargetRefused).rule == OWN_PORT
