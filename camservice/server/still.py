"""``GET /cameras/{id}/snapshot.jpg``: a fresh JPEG of a camera, stored
nowhere.

Who may read it: a viewer (or higher) whose JWT or API key comes in
``Authorization: Bearer`` or ``X-API-Key`` and whose camera allow list
holds the camera, or anyone with a still-image token for that camera in
the ``token`` query parameter (``get_snapshot_url``). Requests for one
camera that overlap share one capture.

======  ==================================================================
status  when
======  ==================================================================
200     ``image/jpeg``, ``Cache-Control: no-store``
401     no credential, or one that is not valid (expired, malformed)
403     role too low, camera outside the allow list, token for another
        camera
404     not ``/cameras/<cameraN>/snapshot.jpg``, unknown camera, or a kind
        of camera without a picture
503     camera not connected, or MediaMTX down (and the camera cannot be
        read directly)
502     FFmpeg could not capture (or timed out)
500     a bug (logged)
======  ==================================================================
"""
from __future__ import annotations

from typing import Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from camservice.auth.authenticator import Authenticator
from camservice.auth.roles import Role
from camservice.cameras.errors import UnknownCamera
from camservice.cameras.model import CAMERA_ID
from camservice.media.capture import Frame
from camservice.media.errors import CameraNotConnected, CaptureFailed, NotStreamable
from camservice.media.still_tokens import StillTokenRefused, StillTokens
from camservice.mediamtx.errors import MediaMTXError
from camservice.security.networks import client_ip
from camservice.server.credentials import HeaderRefusal, header_principal

__all__ = ["StillImageResource"]




class StillImageResource(Resource):
    """The ``/cameras`` resource: ``/cameras/<id>/snapshot.jpg``.

    :param grab: ``grab(camera_id) -> Deferred[Frame]`` (fails as
        :meth:`camservice.media.capture.FrameCapture.capture` does, or with
        ``UnknownCamera``, ``NotStreamable``, ``CameraNotConnected``).
    :param authenticator: checks header credentials.
    :param tokens: checks still-image tokens.
    :param audit: records refusals (a :class:`camservice.rpc.audit.Audit`).
    """

    isLeaf = True
    log = Logger(namespace="camservice.server.still")

    def __init__(self, grab: Callable[[str], defer.Deferred], authenticator: Authenticator, tokens: StillTokens,
                 audit):
        super().__init__()
        self._grab = grab
        self._authenticator = authenticator
        self._tokens = tokens
        self._audit = audit

    def render_GET(self, request):
        parts = request.postpath
        camera_id = parts[0].decode("ascii", "replace") if parts else ""
        if len(parts) != 2 or parts[1] != b"snapshot.jpg" or not CAMERA_ID.fullmatch(camera_id):
            return _plain(request, 404, "no such resource")
        who = self._admit(request, camera_id)
        if isinstance(who, bytes):
            return who
        d = self._grab(camera_id)
        finished = request.notifyFinish()
        finished.addErrback(lambda _: d.cancel())  # the client left: stop waiting
        d.addCallbacks(self._send, self._failed, callbackArgs=(request,), errbackArgs=(request, camera_id))
        d.addErrback(lambda f: self.log.failure("answering the still image of {camera_id}", failure=f,
                                                camera_id=camera_id))
        return NOT_DONE_YET

    def _admit(self, request, camera_id: str):
        """The caller's name, or the refusal's body (bytes)."""
        try:
            principal = header_principal(request, self._authenticator, Role.viewer)
        except HeaderRefusal as refusal:
            return self._refuse(request, refusal.code, refusal.reason, refusal.user_id, camera_id)
        if principal is not None:
            if not principal.may_use_camera(camera_id):
                return self._refuse(request, 403, "camera not allowed", principal.user_id, camera_id)
            return principal.user_id
        tokens = request.args.get(b"token") or []
        if not tokens:
            return self._refuse(request, 401, "credentials required", None, camera_id)
        try:
            self._tokens.check(tokens[-1].decode("ascii", "replace"), camera_id)
        except StillTokenRefused as e:
            return self._refuse(request, 403 if e.wrong_camera else 401, e.reason, None, camera_id)
        return "still-token"

    def _send(self, frame: Frame, request) -> None:
        if request.finished or getattr(request, "_disconnected", False):
            return
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"image/jpeg")
        request.setHeader(b"Content-Length", str(len(frame.jpeg)).encode("ascii"))
        request.setHeader(b"Cache-Control", b"no-store")
        if request.method != b"HEAD":
            request.write(frame.jpeg)
        request.finish()

    def _failed(self, failure, request, camera_id: str) -> None:
        if failure.check(defer.CancelledError) or request.finished or getattr(request, "_disconnected", False):
            return
        error = failure.value
        if failure.check(UnknownCamera, NotStreamable):
            code, reason = 404, "no such camera" if failure.check(UnknownCamera) else "this camera has no picture"
        elif failure.check(CameraNotConnected):
            code, reason = 503, f"the camera is {error.status}"
        elif failure.check(MediaMTXError):
            code, reason = 503, f"MediaMTX: {error.detail}"
        elif failure.check(CaptureFailed):
            code, reason = 502, f"FFmpeg could not capture: {error.detail}"
        else:
            self.log.failure("still image of {camera_id}", failure=failure, camera_id=camera_id)
            code, reason = 500, "the server failed; see its log"
        request.write(_plain(request, code, reason))
        request.finish()

    def _refuse(self, request, code: int, reason: str, user_id: Optional[str], camera_id: str) -> bytes:
        # summarised per client and reason by the audit service, as the
        # file downloads' refusals are
        self._audit.record(
            "still image",
            "denied" if code == 403 else "failure",
            peer=client_ip(request.getClientAddress()) or "",
            who=user_id,
            message="refused the still image of {camera} to {peer}: {reason}",
            path="/cameras/" + camera_id + "/snapshot.jpg",
            camera=camera_id,
            reason=reason,
            status=code,
        )
        if code == 401:
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="camservice"')
        return _plain(request, code, reason)


def _plain(request, code: int, reason: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(b"Cache-Control", b"no-store")
    return reason.encode("utf-8") + b"\n"
