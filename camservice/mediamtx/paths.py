"""Reading MediaMTX's ``Path`` objects (``/v3/paths/get``) into the
figures the API reports."""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Optional

__all__ = ["is_ready", "online_since", "path_figures"]


def is_ready(path: Optional[Mapping]) -> bool:
    """A source is publishing (``available`` since v1.19, ``ready`` before)."""
    if not path:
        return False
    return bool(path.get("available", path.get("ready", False)))


def online_since(path: Optional[Mapping]) -> Optional[float]:
    """POSIX time the source came online, if it is."""
    if not path:
        return None
    stamp = path.get("availableTime") or path.get("onlineTime") or path.get("readyTime")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def path_figures(path: Optional[Mapping], now: float) -> dict:
    """``{ready, readers, bytes_in, bytes_out, uptime, bitrate}``.

    ``bitrate`` (bits/s) is the average inbound rate since the source came
    online; ``uptime`` is seconds since then (0 when not publishing).
    """
    ready = is_ready(path)
    since = online_since(path) if ready else None
    uptime = max(0.0, now - since) if since is not None else 0.0
    bytes_in = int((path or {}).get("inboundBytes", (path or {}).get("bytesReceived", 0)) or 0)
    bytes_out = int((path or {}).get("outboundBytes", (path or {}).get("bytesSent", 0)) or 0)
    return {
        "ready": ready,
        "readers": len((path or {}).get("readers") or []),
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "uptime": int(uptime),
        "bitrate": int(bytes_in * 8 / uptime) if uptime >= 1 else 0,
        "source": ((path or {}).get("source") or {}).get("type"),
    }
