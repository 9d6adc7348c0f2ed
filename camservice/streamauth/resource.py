"""The HTTP resource MediaMTX's ``authHTTPAddress`` points at."""
from __future__ import annotations

import json
from typing import Optional

from twisted.web.resource import Resource

from camservice.metrics import Metrics
from camservice.rpc.audit import Audit
from camservice.streamauth.policy import API_ACTIONS, AccessRequest, StreamAccessPolicy

__all__ = ["MAX_BODY", "StreamAuthResource"]

#: MediaMTX's requests are a few hundred bytes; more is not MediaMTX
MAX_BODY = 16384
#: allowed callers not worth an audit line each (camservice's own traffic)
_QUIET = ("camservice", "internal")


class StreamAuthResource(Resource):
    """``POST`` one :class:`AccessRequest`: 200 allows, 401 refuses, 400
    for a body that is not one.

    Every refusal is an audit event (namespace ``camservice.audit``,
    ``audit=True``, ``outcome="denied"``, with ``who``, ``ip``, ``path``,
    ``action``, ``protocol`` and ``reason``; never a credential), and so is
    every viewer allowed to read or publish (``outcome="success"``).
    camservice's own Control API calls and internal readers are not logged.
    Refusals go through :class:`Audit`, so a client that keeps knocking is
    summarised (one line per reason and interval, then a count) rather
    than flooding the log.

    :param audit: where audit events go (default: a summary-less
        :class:`Audit` of its own).
    """

    isLeaf = True

    def __init__(self, policy: StreamAccessPolicy, metrics: Metrics, audit: Optional[Audit] = None):
        super().__init__()
        self._policy = policy
        self._metrics = metrics
        self._audit = audit if audit is not None else Audit(metrics)

    def render_POST(self, request) -> bytes:
        body = request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            request.setResponseCode(413)
            return b""
        try:
            question = AccessRequest.from_json(json.loads(body))
        except ValueError:
            request.setResponseCode(400)
            return b""
        decision = self._policy.decide(question)
        fields = dict(
            what="media_" + question.action,
            peer=question.ip,
            who=decision.who or question.user[:64] or "anonymous",
            ip=question.ip,
            path=question.path,
            action=question.action,
            protocol=question.protocol,
            media_session=question.id,
        )
        if not decision.allowed:
            self._metrics.auth_failures.labels("stream").inc()
            self._audit.record(
                outcome="denied", reason=decision.reason,
                message="MediaMTX {action} of {path} refused to {who} from {ip}: {reason}", **fields,
            )
            request.setResponseCode(401)
            return b""
        if decision.who not in _QUIET and question.action not in API_ACTIONS:
            self._audit.record(outcome="success", message="MediaMTX {action} of {path} allowed to {who} from {ip}",
                               **fields)
        request.setResponseCode(200)
        return b""
