"""A whole camservice tree running in the test process on a free port."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from camservice.app import Overrides, build_service
from camservice.auth.roles import Role
from camservice.auth.secret import load_or_create_secret
from camservice.auth.tokens import TokenAuthority
from camservice.config import Config
from camservice.service import ServiceTree
from helpers.wsclient import connect


@dataclass
class LiveService:
    tree: ServiceTree
    config: Config
    reactor: object
    secret: str

    @property
    def port(self) -> int:
        return self.tree.getServiceNamed("api").listening_port

    @property
    def scheme(self) -> str:
        return "wss" if self.config.server.tls.enabled else "ws"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{self.config.server.websocket_path}"

    @property
    def http(self) -> str:
        return f"{'https' if self.config.server.tls.enabled else 'http'}://127.0.0.1:{self.port}"

    @property
    def api_auth(self) -> tuple[str, str]:
        """``(user, password)`` of MediaMTX's Control API (treq's ``auth=``)."""
        password = self.config.mediamtx.api_password_file.read_text().splitlines()[0].strip()
        return self.config.mediamtx.api_user, password

    def api(self, path: str) -> str:
        """The URL of ``path`` on MediaMTX's Control API."""
        return f"http://127.0.0.1:{self.config.mediamtx.api_port}{path}"

    @property
    def registry(self):
        return self.tree.getServiceNamed("cameras")

    @property
    def monitor(self):
        return self.tree.getServiceNamed("camera-monitor")

    @property
    def controller(self):
        return self.tree.getServiceNamed("mediamtx")

    async def _wait_up(self, timeout: float) -> None:
        from twisted.internet import task

        deadline = self.reactor.seconds() + timeout
        while self.controller.health.value != "up":
            if self.reactor.seconds() > deadline:
                raise AssertionError(f"MediaMTX not up after {timeout} s: {self.controller.detail}")
            await task.deferLater(self.reactor, 0.05, lambda: None)

    def wait_mediamtx_up(self, timeout: float = 20.0):
        """Fires once the controller reports MediaMTX up (paths in place)."""
        from twisted.internet import defer

        return defer.ensureDeferred(self._wait_up(timeout))

    def token(self, role: str = "admin", ttl: float = 3600, cameras: Optional[list] = None, user: str = "tester") -> str:
        return TokenAuthority(self.secret, self.reactor).issue(user, Role.parse(role), ttl, cameras)

    def connect(self, tls=None, bind=None):
        """Fires with a connected :class:`helpers.wsclient.RpcClient`.

        :param tls: client TLS options (needed when the service has TLS).
        :param bind: the local address to connect from.
        """
        return connect(self.reactor, self.url, self.port, tls=tls, bind=bind)

    async def authed_client(self, role: str = "admin", **kw):
        client = await self.connect()
        reply = await client.call("authenticate", {"auth_token": self.token(role, **kw)})
        assert reply["result"]["authenticated"] is True, reply
        return client


def start_live(config: Config, reactor, overrides: Overrides = Overrides()) -> LiveService:
    """Build and start the tree (listening on ``config.server.port``)."""
    secret = load_or_create_secret(config.auth)
    tree = build_service(config, secret, reactor, overrides=overrides)
    tree.privilegedStartService()
    tree.startService()
    return LiveService(tree, config, reactor, secret)
