"""The reactor-driven client's reconnection schedule on a Clock: a broker
that cannot be reached is tried again after growing, jittered delays, and
a stop ends the attempts. (Sessions with a real broker are tested in
tests/integration/test_mqtt_bridge.py.)"""
from __future__ import annotations

from twisted.internet import defer
from twisted.internet.task import Clock

from camservice.mqtt.backoff import Backoff
from camservice.mqtt.client import ClientState, ConnectionSettings, ReactorMqttClient, read_password


class ClockReactor(Clock):
    def callFromThread(self, f, *args):
        f(*args)


def make(clock, outcomes, attempts):
    def run_blocking(f, *args):
        attempts.append(clock.seconds())
        outcome = outcomes.pop(0) if outcomes else ConnectionRefusedError(111, "Connection refused")
        return defer.fail(outcome) if isinstance(outcome, Exception) else outcome

    return ReactorMqttClient(
        clock, ConnectionSettings("127.0.0.1", 1, "camservice-t"), Backoff(1, 8, random=lambda: 0.999999),
        lambda: None, lambda: None, lambda *a: None, run_blocking=run_blocking,
    )


def test_an_unreachable_broker_is_retried_with_growing_delays():
    clock = ClockReactor()
    attempts = []
    client = make(clock, [], attempts)
    client.start()
    assert client.state is ClientState.WAITING and "refused" in client.detail.lower()
    for _ in range(400):
        clock.advance(0.1)
    gaps = [round(b - a, 1) for a, b in zip(attempts, attempts[1:])]
    assert gaps[:6] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    client.stop()
    n = len(attempts)
    clock.advance(100)
    assert len(attempts) == n and client.state is ClientState.STOPPED
    assert not clock.getDelayedCalls()


def test_a_stop_while_an_attempt_is_open_waits_for_it():
    clock = ClockReactor()
    attempts = []
    pending = defer.Deferred()
    client = make(clock, [pending], attempts)
    client.start()
    assert client.state is ClientState.CONNECTING
    stopped = client.stop()
    assert not stopped.called
    pending.errback(OSError("gone"))
    assert stopped.called and client.state is ClientState.STOPPED
    assert not clock.getDelayedCalls()


def test_the_password_is_the_files_first_line(tmp_path):
    path = tmp_path / "pw"
    path.write_text("s3cret  \nsecond line\n")
    assert read_password(path) == "s3cret"
    assert read_password(None) is None


def test_a_connack_read_before_the_attempts_result_keeps_the_connection():
    """The socket joins the reactor from the connecting thread, so the
    broker's CONNACK can be read before the thread's result arrives: the
    session is kept, not dropped as a stale attempt."""
    clock = ClockReactor()
    pending = defer.Deferred()
    connected = []
    client = ReactorMqttClient(
        clock, ConnectionSettings("127.0.0.1", 1, "camservice-t"), Backoff(1, 8, random=lambda: 0.5),
        lambda: connected.append(clock.seconds()), lambda: None, lambda *a: None,
        run_blocking=lambda f, *args: pending,
    )
    client.start()
    paho = client._client
    client._paho_connect(paho, None, {}, 0)
    pending.callback(None)
    assert client.state is ClientState.CONNECTED and client._client is paho
    assert connected == [0]
    clock.advance(120)
    assert client.state is ClientState.CONNECTED and connected == [0]
    client._stop_misc()
