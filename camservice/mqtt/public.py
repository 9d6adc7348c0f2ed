"""What of a Camera object a node may leave on a broker.

Whoever may read a node's ``cameras/<id>/state`` or ``events/`` (a fleet
dashboard, Home Assistant, any client the broker's ACL lets read) gets the
Camera object, but must not get a credential from it. With signed stream
URLs (``streams.auth``) the API's Camera carries each URL's read token in
its query (``?token=...``), so the bridge publishes the URLs without their
query and without any user information (``user:password@``): they say where
a stream is, and a client gets a URL it may play from the API, with its own
credential (``get_camera_list`` over the WebSocket or MQTT request/response,
whose answer goes only to the response topic it named).

This also keeps the retained state from changing each time a token window
turns: the published payload changes only when the camera does.
"""
from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

__all__ = ["public_camera", "public_url"]


def public_url(url: Any) -> Any:
    """``url`` without its query, fragment and user information; anything
    that is not a string (``None`` for a protocol that is off) as given."""
    if not isinstance(url, str):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def public_camera(view: dict) -> dict:
    """A copy of API.md's Camera fit for the broker (the stream URLs as
    :func:`public_url` makes them); ``view`` itself is left alone (the
    presenter shares it with the API)."""
    streams: Optional[dict] = view.get("streams")
    if not isinstance(streams, dict):
        return dict(view)
    return {**view, "streams": {name: public_url(url) for name, url in streams.items()}}
