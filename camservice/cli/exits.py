"""camctl's exit codes, and how API errors, HTTP statuses and WebSocket
close codes map onto them: scripts tell the failures apart by the code."""
from __future__ import annotations

from typing import Optional

__all__ = [
    "AUTH", "CONNECTION", "DEPENDENCY", "FAILED", "INTERRUPTED", "INVALID_STATE", "NOT_FOUND", "OK",
    "TABLE", "UNSUPPORTED", "USAGE", "CliError", "for_close_code", "for_http_status", "for_rpc_error",
]

OK = 0
FAILED = 1
USAGE = 2
CONNECTION = 3
AUTH = 4
NOT_FOUND = 5
INVALID_STATE = 6
UNSUPPORTED = 7
DEPENDENCY = 8
INTERRUPTED = 130

#: (code, meaning): the documented table (``camctl --help`` prints it)
TABLE = (
    (OK, "success"),
    (FAILED, "any other error (server internal error, rate limited, a local file error)"),
    (USAGE, "bad command line (an option's file unreadable too), or parameters the server refused (-32602)"),
    (CONNECTION, "cannot connect, TLS or WebSocket handshake failed, connection lost, no reply in time"),
    (AUTH, "authentication failed (-32001, HTTP 401) or not allowed (-32002, HTTP 403)"),
    (NOT_FOUND, "camera, file or session not found (-32010, HTTP 404)"),
    (INVALID_STATE, "invalid state (-32020): already recording, not recording, camera disconnected, disk full"),
    (UNSUPPORTED, "not supported by this server (-32030, -32601)"),
    (DEPENDENCY, "MediaMTX or FFmpeg failed (-32050)"),
    (INTERRUPTED, "interrupted (Ctrl-C), except for watch, which then ends with 0"),
)

_RPC = {
    -32700: FAILED,
    -32600: FAILED,
    -32601: UNSUPPORTED,
    -32602: USAGE,
    -32603: FAILED,
    -32001: AUTH,
    -32002: AUTH,
    -32010: NOT_FOUND,
    -32020: INVALID_STATE,
    -32030: UNSUPPORTED,
    -32040: FAILED,
    -32050: DEPENDENCY,
}

_HTTP = {400: USAGE, 401: AUTH, 403: AUTH, 404: NOT_FOUND, 416: INVALID_STATE}


class CliError(Exception):
    """A failure to report in one line on stderr and exit with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = FAILED, detail: Optional[dict] = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        #: what ``--json`` puts on stderr besides the message
        self.detail = detail or {}


def for_rpc_error(code) -> int:
    """The exit code of a JSON-RPC ``error.code``."""
    return _RPC.get(code, FAILED) if isinstance(code, int) else FAILED


def for_http_status(status: int) -> int:
    """The exit code of an HTTP error status of ``/files/...``."""
    return _HTTP.get(status, CONNECTION if status in (502, 503, 504) else FAILED)


def for_close_code(code: Optional[int]) -> int:
    """The exit code when the server closed the connection: an ended
    credential (4001 auth deadline, 4002 expired, 4003 key revoked, 4004
    ended by an admin) is AUTH, anything else CONNECTION."""
    return AUTH if code in (4001, 4002, 4003, 4004) else CONNECTION
