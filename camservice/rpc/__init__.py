"""JSON-RPC 2.0, independent of the transport: the dispatcher, the method
table, sessions, notifications and the methods themselves."""
from camservice.rpc.dispatcher import Call, Dispatcher
from camservice.rpc.errors import RpcError
from camservice.rpc.methods import Deprecation, MethodSpec, MethodTable
from camservice.rpc.notifier import Notifier
from camservice.rpc.session import Session

__all__ = [
    "Call",
    "Deprecation",
    "Dispatcher",
    "MethodSpec",
    "MethodTable",
    "Notifier",
    "RpcError",
    "Session",
]
