"""JSON-RPC over MQTT 5 request/response.

A request published to ``<prefix>/<node>/rpc`` with the ``ResponseTopic``
property is handed to the same :class:`~camservice.rpc.dispatcher.Dispatcher`
the WebSocket uses, and its reply is published to that topic with the
request's ``CorrelationData``: the same result, the same error codes, the
same roles, camera allow lists, audit and metrics.

Credentials: the user property ``authorization`` (``Bearer <jwt or key>``)
or ``x-api-key``, or ``params.auth_token`` as on the WebSocket. A user
property is passed on as ``params.auth_token`` (unless the params already
carry one), so the dispatcher authenticates it exactly as a per-call
token. Each request stands alone: there is no login that outlives it.

A request without a response topic is not executed (there would be no
way to tell the caller what happened): it is logged and dropped. So is one
whose response topic is not under ``<prefix>/<node>/rpc/response/``: the
node writes answers only there, so a request cannot make it publish onto
another topic it may write (its own state, another node's, Home
Assistant's configs), and a broker ACL can give each client the answers
under ``rpc/response/<its user name>/`` alone (conf/mosquitto-acl.example).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger

from camservice.codec import dumps, loads
from camservice.config.model import RateLimitConfig
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.errors import InvalidRequest, RateLimited
from camservice.rpc.ratelimit import TokenBucket
from camservice.rpc.session import Session

__all__ = ["MqttRpc", "credential_from", "response_topic_problem", "user_properties"]

#: requests being answered at once; more are refused (-32040)
MAX_IN_FLIGHT = 64
#: rate-limit buckets kept (one per credential, least recently used dropped)
MAX_BUCKETS = 1024

Reply = Callable[[str, bytes, Optional[bytes]], None]


def user_properties(properties: Any) -> list[tuple[str, str]]:
    """A message's MQTT 5 user properties as ``(name, value)`` pairs."""
    pairs = getattr(properties, "UserProperty", None) if properties is not None else None
    if not pairs:
        return []
    if isinstance(pairs, tuple) and len(pairs) == 2 and isinstance(pairs[0], str):
        return [pairs]
    return [(str(k), str(v)) for k, v in pairs]


def response_topic_problem(topic: Any, base: Optional[str]) -> Optional[str]:
    """Why ``topic`` cannot take an answer, or ``None`` when it can: it
    must be a topic name (no wildcards) under ``base`` (the node's
    ``.../rpc/response/``) with at least one level of its own."""
    if not topic or not isinstance(topic, str):
        return "no response topic"
    if base is None:
        return "the bridge has no session"
    if "+" in topic or "#" in topic or "\x00" in topic:
        return "the response topic has wildcards or NUL characters"
    if not topic.startswith(base) or not topic[len(base):].strip("/"):
        return f"the response topic must be under {base}"
    return None


def credential_from(properties: Any) -> Optional[str]:
    """The credential in a request's user properties, or ``None``."""
    for name, value in user_properties(properties):
        key = name.lower()
        if key == "authorization":
            scheme, _, rest = value.strip().partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                return rest.strip()
        elif key == "x-api-key" and value.strip():
            return value.strip()
    return None


class MqttRpc:
    """Answers JSON-RPC requests that arrive over MQTT.

    :param dispatcher: the service's dispatcher.
    :param clock: ``IReactorTime``.
    :param rate_limit: ``server.rate_limit``: one bucket per credential,
        as one WebSocket connection has.
    :param reply: ``(response_topic, payload, correlation_data)``.
    :param max_message_size: ``server.max_message_size``.
    :param counted: ``(outcome) -> None`` per request.
    :param response_base: where answers may go (``<prefix>/<node>/rpc/response/``);
        ``None`` (no session yet) refuses every request.
    """

    log = Logger()

    def __init__(
        self,
        dispatcher: Dispatcher,
        clock,
        rate_limit: RateLimitConfig,
        reply: Reply,
        max_message_size: int = 65536,
        counted: Callable[[str], None] = lambda outcome: None,
        response_base: Optional[str] = None,
    ):
        self._dispatcher = dispatcher
        self._clock = clock
        self.rate_limit = rate_limit
        self._reply = reply
        self.max_message_size = max_message_size
        self._counted = counted
        self.response_base = response_base
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.in_flight = 0

    def _bucket(self, credential: Optional[str]) -> Optional[TokenBucket]:
        limit = self.rate_limit
        if not limit.requests_per_second:
            return None
        key = hashlib.sha256(credential.encode()).hexdigest() if credential else ""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(limit.requests_per_second, limit.burst, self._clock)
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def handle(self, payload: bytes, properties: Any) -> Optional[defer.Deferred]:
        """Answer one request; a Deferred firing once the reply is queued
        (``None`` when nothing is answered)."""
        response_topic = getattr(properties, "ResponseTopic", None) if properties is not None else None
        if not response_topic:
            self._counted("no_response_topic")
            self.log.info("MQTT: a request without a response topic was ignored")
            return None
        problem = response_topic_problem(response_topic, self.response_base)
        if problem is not None:
            self._counted("bad_response_topic")
            self.log.warn("MQTT: a request answering to {response_topic!r} was refused: {problem}",
                          response_topic=str(response_topic)[:200], problem=problem)
            return None
        correlation = getattr(properties, "CorrelationData", None)
        if len(payload) > self.max_message_size:
            self._counted("too_large")
            return self._send(response_topic, correlation, InvalidRequest(
                reason="message too large", hint=f"requests may have at most {self.max_message_size} bytes"))
        if self.in_flight >= MAX_IN_FLIGHT:
            self._counted("busy")
            return self._send(response_topic, correlation, RateLimited(
                retry_after_ms=100, reason="too many MQTT requests at once"))
        credential = credential_from(properties)
        if credential is not None:
            payload = _with_token(payload, credential)
        session = Session(self._clock, lambda _: None, peer=f"mqtt:{response_topic}",
                          rate_limiter=self._bucket(credential))
        self._counted("answered")
        self.in_flight += 1
        d = defer.maybeDeferred(self._dispatcher.handle, session, payload)

        def done(reply):
            self.in_flight -= 1
            if reply is not None:
                self._reply(response_topic, reply, correlation)

        return d.addCallback(done)

    def _send(self, topic: str, correlation: Optional[bytes], error) -> defer.Deferred:
        self._reply(topic, dumps({"jsonrpc": "2.0", "id": None, "error": error.to_json()}), correlation)
        return defer.succeed(None)


def _with_token(payload: bytes, credential: str) -> bytes:
    """``payload`` with ``params.auth_token`` set to ``credential`` when
    it is a request object without one; else unchanged (the dispatcher
    then answers it as it would on the WebSocket)."""
    try:
        message = loads(payload)
    except ValueError:
        return payload
    if not isinstance(message, dict):
        return payload
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict) or "auth_token" in params:
        return payload
    message["params"] = {**params, "auth_token": credential}
    return dumps(message)
