"""A paho-mqtt client on the test's side of the broker: subscriber and
MQTT 5 requester, independent of camservice's reactor-driven client (it
runs paho's own network thread; the test polls what it received)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.internet import task

from camservice.mqtt import compat

__all__ = ["Peer", "Received", "connect_peer"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any

    @property
    def correlation(self) -> Optional[bytes]:
        return getattr(self.properties, "CorrelationData", None)


class Peer:
    def __init__(self, reactor, client):
        self.reactor = reactor
        self.client = client
        self.messages: list[Received] = []
        self._subacks: set[int] = set()
        self._subscribed: set[str] = set()
        client.on_message = lambda c, u, m: self.messages.append(
            Received(m.topic, bytes(m.payload), bool(m.retain), getattr(m, "properties", None)))
        client.on_subscribe = lambda c, u, mid, *rest: self._subacks.add(mid)

    async def until(self, check: Callable[["Peer"], Any], timeout: float = 30.0, what: str = "condition"):
        deadline = self.reactor.seconds() + timeout
        while True:
            value = check(self)
            if value:
                return value
            if self.reactor.seconds() > deadline:
                raise AssertionError(f"{what} not reached in {timeout} s; saw {[m.topic for m in self.messages][-30:]}")
            await task.deferLater(self.reactor, 0.05, lambda: None)

    async def subscribe(self, *topics: str) -> None:
        for topic in topics:
            rc, mid = self.client.subscribe(topic, qos=1)
            assert compat.reason_value(rc) == 0, rc
            await self.until(lambda p: mid in p._subacks, 10, f"SUBACK of {topic}")

    def latest(self, topic: str) -> Optional[Received]:
        """The last message on ``topic`` (an empty retained one: deleted)."""
        found = None
        for m in self.messages:
            if m.topic == topic:
                found = None if (m.retain and m.payload == b"") else m
        return found

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    async def request(self, topic: str, payload: bytes, response_topic: str, correlation: bytes,
                      user_properties: Optional[dict] = None, timeout: float = 20.0) -> Received:
        """Publish a request with a response topic and correlation data;
        the answer carrying that correlation data."""
        if response_topic not in self._subscribed:
            self._subscribed.add(response_topic)
            await self.subscribe(response_topic)
        props = compat.Properties(compat.PacketTypes.PUBLISH)
        props.ResponseTopic = response_topic
        props.CorrelationData = correlation
        for name, value in (user_properties or {}).items():
            props.UserProperty = (name, value)
        self.client.publish(topic, payload, qos=1, properties=props)
        return await self.until(
            lambda p: next((m for m in p.on(response_topic) if m.correlation == correlation), None),
            timeout, f"answer on {response_topic}")

    def publish(self, topic: str, payload: bytes, properties=None, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain, properties=properties)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def connect_peer(reactor, broker, user: str, tls: Optional[tuple] = None, host: Optional[str] = None) -> Peer:
    """A connected peer logged in as ``user`` of ``broker``
    (:class:`helpers.broker.Broker`, or anything with ``host``, ``port``
    and ``users``); with ``tls`` = ``(ca_file, cert_file, key_file)`` it
    connects with TLS and that client certificate instead of a password."""
    client = compat.make_client(f"test-{user}-{next(_ids)}")
    if tls is not None:
        ca, cert, key = tls
        client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
    else:
        client.username_pw_set(user, broker.users[user])
    peer = Peer(reactor, client)
    client.connect(host or broker.host, broker.port, keepalive=30)
    client.loop_start()
    await peer.until(lambda p: p.client.is_connected(), 10, f"{user} connected")
    return peer
