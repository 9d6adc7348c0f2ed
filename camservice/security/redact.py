"""Taking credentials out of stream URLs before they are shown or logged.

``rtsp://user:secret@host/x`` becomes ``rtsp://***@host/x``, and the
values of query parameters that carry secrets (``password``, ``token``,
``passphrase``...) become ``***``. :func:`redact_text` does the same to
every URL inside a longer text (an error message, a child's log line),
and blanks the credentials of ``Authorization`` headers, which MediaMTX
prints when it logs at debug level.
"""
from __future__ import annotations

import re

__all__ = ["REDACTED", "redact_text", "redact_url"]

REDACTED = "***"

# scheme://userinfo@host: everything up to the last "@" of the authority
# (a password may hold an "@" of its own)
_USERINFO_GREEDY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")
_AUTH_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization\s*:\s*)(?:([a-z][a-z0-9-]*)\s+)?[^\r\n]*")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:pass|pwd|secret|token|key|auth|sig|jwt|credential)[a-z0-9_.-]*)=)[^&#\s]*"
)


def redact_url(url: str) -> str:
    """``url`` without its credentials (unchanged when it has none)."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced."""
    if ":" not in text:
        return text
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + REDACTED, text)
    if "://" not in text:
        return text
    text = _USERINFO_GREEDY.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)
