"""What can go wrong talking to MediaMTX."""

__all__ = ["CircuitOpen", "MediaMTXError", "MediaMTXRejected", "MediaMTXUnavailable", "PathNotFound"]


class MediaMTXError(Exception):
    """Any failure of a MediaMTX call; ``detail`` is safe to show clients."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class MediaMTXUnavailable(MediaMTXError):
    """MediaMTX did not answer (refused, timed out, 5xx): worth retrying."""


class MediaMTXRejected(MediaMTXError):
    """MediaMTX answered with a 4xx: retrying the same call cannot help.

    :ivar status: the HTTP status code.
    """

    def __init__(self, detail: str, status: int):
        super().__init__(detail)
        self.status = status


class PathNotFound(MediaMTXRejected):
    """The path (or path configuration) does not exist (404)."""


class CircuitOpen(MediaMTXError):
    """Calls fail fast: MediaMTX failed repeatedly and is being left alone
    until the breaker's reset timeout has passed."""
