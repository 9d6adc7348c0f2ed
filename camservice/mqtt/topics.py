"""Topic names: everything a node publishes lives under
``<prefix>/<node>/``.

=============================  =========  ==========================================
topic                          retained   payload
=============================  =========  ==========================================
``availability``               yes        ``online`` / ``offline`` (the will)
``cameras/<id>/state``         yes        API.md's Camera object (JSON); empty: gone
``cameras/<id>/recording``     yes        ``{"recording": true|false, ...}``
``events/<name>``              no         the notification's params (JSON), under the
                                          API's topic (``camera.connected``...) and, for
                                          camera and recording changes, also under the
                                          notification's method (``camera_status_update``,
                                          ``recording_status_update``)
``rpc``                        (in)       JSON-RPC requests (MQTT 5 request/response)
``rpc/response/...``           no         the answers (the only response topics taken)
=============================  =========  ==========================================
"""
from __future__ import annotations

import re
import socket
from typing import Callable, Optional

__all__ = ["Topics", "node_name", "sanitize_level"]

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def sanitize_level(text: str, limit: int = 64) -> str:
    """``text`` fit for one topic level (and an MQTT client id): every
    character other than letters, digits, ``_`` and ``-`` becomes ``_``
    (so no ``/``, ``+``, ``#`` or ``$``)."""
    cleaned = _NOT_ALLOWED.sub("_", text)[:limit]
    return cleaned or "node"


def node_name(configured: Optional[str], hostname: Callable[[], str] = socket.gethostname) -> str:
    """The node id: as configured, else the host name (short, sanitized)."""
    if configured:
        return configured
    return sanitize_level(hostname().split(".", 1)[0])


class Topics:
    """The topics of one node."""

    def __init__(self, prefix: str, node: str):
        self.prefix = prefix
        self.node = node
        self.base = f"{prefix}/{node}"
        self.availability = f"{self.base}/availability"
        self.rpc = f"{self.base}/rpc"
        #: answers go only under here (:mod:`camservice.mqtt.rpc`)
        self.rpc_response_base = f"{self.base}/rpc/response/"

    def state(self, camera_id: str) -> str:
        return f"{self.base}/cameras/{camera_id}/state"

    def recording(self, camera_id: str) -> str:
        return f"{self.base}/cameras/{camera_id}/recording"

    def event(self, name: str) -> str:
        return f"{self.base}/events/{name}"
