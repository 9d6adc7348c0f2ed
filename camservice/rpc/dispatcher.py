"""JSON-RPC 2.0 over any message transport: parse, check, dispatch, answer.

The transport hands :meth:`Dispatcher.handle` one message and sends back
whatever it returns. Everything between (envelope rules, authentication,
roles, params validation, error mapping, metadata, metrics) happens here,
once, for every method.
"""
from __future__ import annotations

import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Optional, Union

from twisted.internet import defer
from twisted.logger import Logger

from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import AuthenticationError, PermissionDenied
from camservice.auth.principal import Principal
from camservice.codec import CODEC, Codec, codec as make_codec
from camservice.metrics import Metrics
from camservice.rpc.audit import Audit
from camservice.rpc.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RateLimited,
    to_rpc_error,
)
from camservice.rpc.methods import MethodSpec, MethodTable
from camservice.rpc.param_limits import check_structure
from camservice.rpc.session import Session
from camservice.schema import describe, dotted
from camservice.timeutil import iso_timestamp

__all__ = ["Call", "Dispatcher"]

_UNKNOWN = "(unknown)"
#: result types that are never coroutines
_PLAIN = frozenset((dict, list, str, int, float, bool, type(None)))


@dataclass
class Call:
    """What a handler knows about the call it serves.

    :ivar principal: the caller, or ``None`` for an open method called
        without credentials.
    """

    session: Session
    principal: Optional[Principal]
    request_id: str
    method: str


Reply = Optional[bytes]


class Dispatcher:
    """Answers JSON-RPC messages from the method table.

    :param table: the methods.
    :param authenticator: checks ``auth_token`` params.
    :param clock: ``IReactorTime``, for timestamps.
    :param metrics: where requests are counted.
    :param audit: where authentication, denials and state changes (methods
        declaring ``audit``) are recorded.
    :param trace: log every request at debug level (off unless the log
        level is debug: it costs per request).
    :param codec: the JSON codec (default: the best installed).
    """

    log = Logger()

    def __init__(
        self,
        table: MethodTable,
        authenticator: Authenticator,
        clock,
        metrics: Metrics,
        audit: Audit,
        trace: bool = False,
        codec: Optional[Codec] = None,
    ):
        self.table = table
        self._authenticator = authenticator
        self._clock = clock
        self._metrics = metrics
        self._audit = audit
        self.trace = trace
        codec = codec or make_codec(CODEC)
        self._loads = codec.loads
        self._dumps = codec.dumps
        # server_timestamp: formatted once per millisecond, not per reply
        self._stamp_ms = -1
        self._stamp = ""

    def handle(self, session: Session, payload: Union[bytes, str]) -> Union[Reply, "defer.Deferred[Reply]"]:
        """Process one message.

        :returns: the encoded reply, ``None`` when nothing is to be sent
            (a notification), or a Deferred firing with one of those.
            Never fails.
        """
        started = time.perf_counter()
        request_id = session.next_request_id()
        msg_id: Any = None
        method = _UNKNOWN
        is_notification = False
        audited = None
        try:
            wait = session.rate_limiter.take() if session.rate_limiter is not None else 0.0
            try:
                message = self._loads(payload)
            except ValueError:
                if wait:
                    raise self._rate_limited(wait)
                raise ParseError(reason="the message is not valid JSON")
            if not isinstance(message, dict):
                if isinstance(message, list):
                    raise InvalidRequest(reason="batch requests are not supported", hint="send one request per message")
                raise InvalidRequest(reason="the message is not a JSON object", hint="a request must be a JSON object")
            name = message.get("method")
            # only a valid request without id is a notification; anything
            # else is answered (with id null when it has none)
            valid = message.get("jsonrpc") == "2.0" and isinstance(name, str)
            if "id" in message:
                msg_id = message["id"]
                if not (msg_id is None or isinstance(msg_id, str) or (isinstance(msg_id, (int, float)) and not isinstance(msg_id, bool))):
                    msg_id = None
                    raise InvalidRequest(reason="invalid id", hint="id must be a string, a number or null")
            elif valid:
                is_notification = True
            if wait:
                raise self._rate_limited(wait)
            if message.get("jsonrpc") != "2.0":
                raise InvalidRequest(reason="not JSON-RPC 2.0", hint='jsonrpc must be "2.0"')
            if not isinstance(name, str):
                raise InvalidRequest(reason="missing or invalid method", hint="method must be a string")
            spec = self.table.get(name)
            if spec is None:
                raise MethodNotFound(
                    method=name[:100],
                    reason="no such method",
                    hint="see the API reference for the methods this server offers",
                )
            method = name
            if spec.deprecation is not None and name not in session.warned_deprecations:
                # once per connection: a client calling it in a loop must
                # not flood the log
                session.warned_deprecations.add(name)
                self.log.warn(
                    "deprecated method {method} called (deprecated since {since}, use {replacement})",
                    method=name,
                    since=spec.deprecation.since,
                    replacement=spec.deprecation.replacement,
                    conn_id=session.conn_id,
                    request_id=request_id,
                )
            params = message.get("params", {})
            if params is None:
                params = {}
            elif not isinstance(params, dict):
                raise InvalidParams(
                    param="params",
                    rule="must be an object of named params",
                    reason="params must be an object of named params",
                    hint="send params as a JSON object",
                )
            principal, params = self._authorize(session, spec, params, request_id)
            if spec.audit is not None:
                audited = (principal, params)
            self._validate(session, spec, params, principal, request_id)
            call = Call(session, principal, request_id, name)
            if self.trace:
                self.log.debug(
                    "call {method}", method=name, conn_id=session.conn_id, request_id=request_id
                )
            result = spec.handler(call, params)
            # plain results first: an ABC isinstance costs a microsecond
            if type(result) not in _PLAIN and isinstance(result, Coroutine):
                result = defer.ensureDeferred(result)
        except Exception as e:
            return self._error_reply(e, msg_id, is_notification, method, request_id, session, started, audited=audited)
        if isinstance(result, defer.Deferred):
            return result.addCallbacks(
                self._result_reply,
                self._failure_reply,
                callbackArgs=(msg_id, is_notification, spec, request_id, started, session, audited),
                errbackArgs=(msg_id, is_notification, method, request_id, session, started, audited),
            )
        return self._result_reply(result, msg_id, is_notification, spec, request_id, started, session, audited)

    def _rate_limited(self, wait: float) -> RateLimited:
        self._metrics.rate_limited.inc()
        return RateLimited(
            retry_after_ms=max(1, int(wait * 1000 + 0.999)), reason="too many requests on this connection"
        )

    def _authorize(self, session: Session, spec: MethodSpec, params: dict, request_id: str):
        """Who is calling, with ``auth_token`` taken out of ``params``.

        :raises AuthenticationError: credentials missing, invalid, expired.
        :raises PermissionDenied: role too low.
        """
        principal = session.current_principal()
        if "auth_token" in params and not spec.accepts("auth_token"):
            params = dict(params)
            token = params.pop("auth_token")
            try:
                principal = self._authenticator.authenticate(token)
            except AuthenticationError as e:
                self._audit.failure(session, request_id, spec.name, e.reason)
                raise
            self._audit.success(session, request_id, principal, spec.name)
        if spec.role is None:
            return principal, params
        if principal is None:
            reason = "session expired" if session.expired else "not authenticated"
            self._audit.failure(session, request_id, spec.name, reason)
            raise AuthenticationError(reason)
        if principal.role < spec.role:
            self._audit.denied(session, request_id, spec.name, principal, spec.role.name)
            raise PermissionDenied(spec.role.name, principal.role.name)
        return principal, params

    def _validate(self, session: Session, spec: MethodSpec, params: dict, principal: Optional[Principal], request_id: str) -> None:
        if params:
            # sizes first (len is free), so hostile params cost microseconds
            for name, kind, limit, rule in spec.limits:
                value = params.get(name)
                if isinstance(value, kind) and len(value) > limit:
                    raise self._invalid(spec, (name,), rule)
            broken = check_structure(params)
            if broken is not None:
                raise self._invalid(spec, *broken)
        if params or spec.takes_params:
            # the first error only: building every error of a big bad
            # array is what costs. (jsonschema's best_match of one error
            # without sub-errors, which only anyOf/oneOf give and no params
            # schema uses, is that error.)
            for error in spec.validator.iter_errors(params):
                path, rule, _value = describe(error)
                raise self._invalid(spec, path, rule)
        if spec.camera_param is not None and principal is not None:
            camera = params.get(spec.camera_param)
            if camera is not None and not principal.may_use_camera(camera):
                required = spec.role.name if spec.role else None
                self._audit.denied(session, request_id, spec.name, principal, required, camera)
                raise PermissionDenied(spec.role.name if spec.role else None, principal.role.name, camera)

    @staticmethod
    def _invalid(spec: MethodSpec, path: tuple, rule: str) -> InvalidParams:
        name = dotted(path) or "params"
        return InvalidParams(
            param=name, rule=rule, reason=f"{name} {rule}", hint=f"check the {name!r} param of {spec.name}"
        )

    def _metadata(self, request_id: str, elapsed: float, spec: Optional[MethodSpec] = None) -> dict:
        ms = int(self._clock.seconds() * 1000)
        if ms != self._stamp_ms:
            self._stamp_ms = ms
            self._stamp = f"{iso_timestamp(ms // 1000)[:-1]}.{ms % 1000:03d}Z"
        meta = {
            "processing_time_ms": round(elapsed * 1000, 3),
            "server_timestamp": self._stamp,
            "request_id": request_id,
        }
        if spec is not None and spec.deprecation is not None:
            meta["deprecation"] = spec.deprecation.to_json()
        return meta

    def _result_reply(self, result, msg_id, is_notification, spec: MethodSpec, request_id, started, session=None, audited=None) -> Reply:
        elapsed = time.perf_counter() - started
        self._metrics.observe_request(spec.name, 0, elapsed)
        if audited is not None:
            self._audit_action(session, request_id, spec, audited)
        if is_notification:
            return None
        return self._dumps(
            {"jsonrpc": "2.0", "id": msg_id, "result": result, "metadata": self._metadata(request_id, elapsed, spec)}
        )

    def _audit_action(self, session: Session, request_id: str, spec: MethodSpec, audited, error=None) -> None:
        principal, params = audited
        recorded = {name: params[name] for name in spec.audit if name in params}
        if error is None:
            self._audit.action(session, request_id, spec.name, principal, recorded)
        else:
            self._audit.action(session, request_id, spec.name, principal, recorded, error.code,
                               error.data.get("reason") or error.message)

    def _failure_reply(self, failure, msg_id, is_notification, method, request_id, session, started, audited=None) -> Reply:
        return self._error_reply(failure.value, msg_id, is_notification, method, request_id, session, started, failure,
                                 audited)

    def _error_reply(self, exc, msg_id, is_notification, method, request_id, session, started, failure=None,
                     audited=None) -> Reply:
        error = to_rpc_error(exc)
        if error is None:
            if failure is None:
                self.log.failure(
                    "internal error in {method}", method=method, request_id=request_id, conn_id=session.conn_id
                )
            else:
                self.log.failure(
                    "internal error in {method}",
                    failure=failure,
                    method=method,
                    request_id=request_id,
                    conn_id=session.conn_id,
                )
            error = InternalError(request_id=request_id, reason="the server failed; quote request_id to its operator")
        elapsed = time.perf_counter() - started
        self._metrics.observe_request(method, error.code, elapsed)
        spec = self.table.get(method)
        if audited is not None and spec is not None:
            self._audit_action(session, request_id, spec, audited, error)
        if is_notification:
            return None
        return self._dumps(
            {
                "jsonrpc": "2.0",
                "id": msg_id,
                "error": error.to_json(),
                "metadata": self._metadata(request_id, elapsed, spec),
            }
        )
