"""Errors of the service as a whole."""

__all__ = ["StartupError"]


class StartupError(Exception):
    """The service cannot start (e.g. its port is taken); the message says
    why in one line."""
