"""camservice: cameras managed over a WebSocket JSON-RPC API.

The service tree is built by :func:`camservice.tap.makeService` and run by
``twistd camservice``.
"""

__version__ = "0.1.0"
#: the day this version was cut
__build_date__ = "2026-11-25"

__all__ = ["__build_date__", "__version__"]
