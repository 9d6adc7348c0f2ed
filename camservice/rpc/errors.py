"""The JSON-RPC error catalog (API.md) and the one place that maps domain
exceptions to it."""
from __future__ import annotations

from typing import Any, Optional

from camservice.auth.errors import AuthenticationError, PermissionDenied
from camservice.cameras.errors import CameraLimitReached, UnknownCamera
from camservice.media.errors import (
    AlreadyRecording,
    CameraNotConnected,
    CaptureFailed,
    InvalidMediaName,
    MediaFileExists,
    MediaFileNotFound,
    NotRecording,
    NotStreamable,
    NotStreaming,
    SourceDidNotStart,
    StorageCritical,
)
from camservice.mediamtx.errors import MediaMTXError
from camservice.ops.errors import ReloadRefused

__all__ = [
    "AuthenticationFailed",
    "DependencyFailed",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "InvalidState",
    "MethodNotFound",
    "NotFound",
    "ParseError",
    "PermissionDeniedError",
    "RateLimited",
    "RpcError",
    "Unsupported",
    "to_rpc_error",
]


class RpcError(Exception):
    """An error answered to the client as ``{code, message, data}``."""

    code = -32603
    message = "Internal error"

    def __init__(self, **data: Any):
        super().__init__(data)
        self.data = data

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "data": self.data}


class ParseError(RpcError):
    code, message = -32700, "Parse error"


class InvalidRequest(RpcError):
    code, message = -32600, "Invalid Request"


class MethodNotFound(RpcError):
    code, message = -32601, "Method not found"


class InvalidParams(RpcError):
    code, message = -32602, "Invalid params"


class InternalError(RpcError):
    code, message = -32603, "Internal error"


class AuthenticationFailed(RpcError):
    code, message = -32001, "Authentication failed"


class PermissionDeniedError(RpcError):
    code, message = -32002, "Permission denied"


class NotFound(RpcError):
    code, message = -32010, "Not found"


class InvalidState(RpcError):
    code, message = -32020, "Invalid state"


class Unsupported(RpcError):
    code, message = -32030, "Unsupported"


class RateLimited(RpcError):
    code, message = -32040, "Rate limited"


class DependencyFailed(RpcError):
    code, message = -32050, "Dependency failed"


def to_rpc_error(exc: BaseException) -> Optional[RpcError]:
    """The client-facing error for a domain exception, or ``None`` if it is
    not one (a bug: answered as -32603)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, AuthenticationError):
        return AuthenticationFailed(reason=exc.reason)
    if isinstance(exc, PermissionDenied):
        data = {"required_role": exc.required_role, "have_role": exc.have_role}
        if exc.camera is not None:
            data["camera"] = exc.camera
            data["reason"] = "camera not allowed"
        else:
            data["reason"] = "role too low"
        return PermissionDeniedError(**data)
    if isinstance(exc, UnknownCamera):
        return NotFound(resource="camera", id=exc.args[0], reason="no such camera")
    if isinstance(exc, MediaMTXError):
        return DependencyFailed(dependency="mediamtx", detail=exc.detail, reason="MediaMTX failed or is unreachable")
    if isinstance(exc, NotStreamable):
        return Unsupported(feature=f"streaming {exc.kind} cameras", reason="no source for this kind yet")
    if isinstance(exc, CameraNotConnected):
        return InvalidState(
            state=f"camera_{exc.status.lower()}", allowed_states=["CONNECTED"], reason="the camera is not connected"
        )
    if isinstance(exc, NotStreaming):
        return InvalidState(state="not_streaming", allowed_states=["streaming"],
                            reason="start_streaming was not called for this camera")
    if isinstance(exc, SourceDidNotStart):
        return DependencyFailed(
            dependency=exc.dependency,
            detail=f"the source did not start publishing within {exc.timeout:g} s",
            reason="the camera's source did not start",
        )
    if isinstance(exc, AlreadyRecording):
        return InvalidState(state="recording", allowed_states=["not_recording"], filename=exc.filename,
                            reason="the camera is already recording")
    if isinstance(exc, NotRecording):
        return InvalidState(state="not_recording", allowed_states=["recording"],
                            reason="the camera is not recording")
    if isinstance(exc, StorageCritical):
        return InvalidState(state="storage_critical", allowed_states=["storage_ok", "storage_low"],
                            detail=exc.detail, reason="the media disk is too full to write")
    if isinstance(exc, MediaFileNotFound):
        return NotFound(resource=exc.kind, id=exc.name, reason=f"no such {exc.kind}")
    if isinstance(exc, MediaFileExists):
        return InvalidState(state="file_exists", allowed_states=[], filename=exc.name,
                            reason=f"a {exc.kind} of that name exists and is never overwritten")
    if isinstance(exc, InvalidMediaName):
        return InvalidParams(param=exc.param, rule=exc.rule, reason=f"{exc.param} {exc.rule}",
                             hint=f"give a plain file name in '{exc.param}'")
    if isinstance(exc, CaptureFailed):
        return DependencyFailed(dependency="ffmpeg", detail=exc.detail, reason="FFmpeg could not capture")
    if isinstance(exc, ReloadRefused):
        return InvalidState(
            state="config_refused", allowed_states=[], stage=exc.stage, reasons=list(exc.reasons),
            reason="the new configuration was refused; the running one stays",
        )
    if isinstance(exc, CameraLimitReached):
        return InvalidState(
            state="camera_limit_reached", allowed_states=[], reason="the camera table is full"
        )
    return None
