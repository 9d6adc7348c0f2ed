"""What a command runs with: the reactor, the resolved target, the output,
and the API connection it opens at most once."""
from __future__ import annotations

from typing import Callable, Optional

from camservice.cli.client import ApiClient
from camservice.cli.output import Output
from camservice.cli.target import Target

__all__ = ["Context"]


class Context:
    def __init__(self, reactor, target: Target, out: Output):
        self.reactor = reactor
        self.target = target
        self.out = out
        self._client: Optional[ApiClient] = None
        #: the result of ``authenticate`` (role, session id...), once connected
        self.session: Optional[dict] = None

    async def api(self, on_notification: Optional[Callable[[dict], None]] = None) -> ApiClient:
        """The connected, authenticated client (connected on first use)."""
        if self._client is None:
            client = ApiClient(self.reactor, self.target, on_notification)
            self._client = client
            await client.connect()
            self.session = await client.authenticate()
        return self._client

    async def call(self, method: str, params: Optional[dict] = None):
        return await (await self.api()).call(method, params)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
