"""twistd plugin: ``twistd camservice`` runs :mod:`camservice.tap`."""
from twisted.application.service import ServiceMaker

camservice = ServiceMaker(
    "camservice",
    "camservice.tap",
    "Manage cameras over a WebSocket JSON-RPC API, streamed by MediaMTX",
    "camservice",
)
