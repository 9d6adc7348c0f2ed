"""The node's own Home Assistant integration calling the API.

Home Assistant's switches and buttons are commands of this node's own
integration: they run through the same dispatcher (validation, audit,
metrics) as a client's requests, as an internal admin-equivalent
principal (``mqtt:homeassistant``). Who may send them is the broker's
business (its ACL: see conf/mosquitto-acl.example).
"""
from __future__ import annotations

from typing import Any, Optional

from twisted.internet import defer

from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.codec import dumps, loads
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.session import Session

__all__ = ["CommandFailed", "InternalCommands", "INTERNAL_PRINCIPAL"]

INTERNAL_PRINCIPAL = Principal("mqtt:homeassistant", Role.admin, None, method="internal",
                               credential_id="mqtt-homeassistant")


class CommandFailed(Exception):
    """The API answered an error: ``error`` is its ``{code, message, data}``."""

    def __init__(self, error: dict):
        super().__init__(f"{error.get('code')} {error.get('message')}: {error.get('data')}")
        self.error = error


class InternalCommands:
    """``start_recording``, ``stop_recording``, ``take_snapshot`` of one
    camera: Deferreds firing with the API's result, or failing with
    :class:`CommandFailed`."""

    def __init__(self, dispatcher: Dispatcher, clock):
        self._dispatcher = dispatcher
        self._clock = clock

    def call(self, method: str, params: Optional[dict] = None) -> defer.Deferred:
        session = Session(self._clock, lambda _: None, peer="mqtt:homeassistant")
        session.log_in(INTERNAL_PRINCIPAL)
        request = dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}})
        return defer.maybeDeferred(self._dispatcher.handle, session, request).addCallback(_result)

    def start_recording(self, camera_id: str) -> defer.Deferred:
        return self.call("start_recording", {"device": camera_id})

    def stop_recording(self, camera_id: str) -> defer.Deferred:
        return self.call("stop_recording", {"device": camera_id})

    def take_snapshot(self, camera_id: str) -> defer.Deferred:
        return self.call("take_snapshot", {"device": camera_id})


def _result(reply: Any):
    message = loads(reply)
    if "error" in message:
        raise CommandFailed(message["error"])
    return message["result"]
