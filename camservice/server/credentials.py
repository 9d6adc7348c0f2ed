"""The credential an HTTP request carries in its headers: one reading for
every endpoint that takes one (``/metrics``, ``/files``, still images)."""
from __future__ import annotations

__all__ = ["header_credential"]


def header_credential(request) -> str:
    """The JWT or API key in ``X-API-Key`` or ``Authorization: Bearer``
    (``X-API-Key`` first; empty when neither)."""
    credential = (request.getHeader(b"x-api-key") or b"").decode("latin-1").strip()
    if not credential:
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        if header[:7].lower() == "bearer ":
            credential = header[7:].strip()
    return credential
