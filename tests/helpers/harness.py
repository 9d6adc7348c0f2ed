"""The real service wiring on a ``Clock``, for unit tests of the RPC layer
(nothing listens; requests go straight to the dispatcher)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from twisted.internet import defer

from camservice.app import Overrides, build_service
from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.auth.tokens import TokenAuthority
from camservice.config import Config
from camservice.rpc.dispatcher import Dispatcher
from camservice.rpc.ratelimit import TokenBucket
from camservice.rpc.session import Session

SECRET = "unit-test-secret-0123456789abcdefghijklmnop"


@dataclass
class Harness:
    config: Config
    clock: Any
    tree: Any
    outboxes: dict = field(default_factory=dict)

    def sent(self, session: Session) -> list[dict]:
        """Notifications delivered to ``session`` so far, decoded."""
        return [json.loads(p) for p in self.outboxes[session.conn_id]]

    def stop(self) -> None:
        """Stop what :func:`make_harness` started (its loops use the clock)."""
        self.tree.getServiceNamed("audit").stopService()
        self.tree.getServiceNamed("media-files").stopService()
        self.tree.getServiceNamed("recordings").stopService()
        self.tree.getServiceNamed("streams").stopService()
        self.tree.getServiceNamed("mediamtx").stopService()
        self.tree.getServiceNamed("external-streams").stopService()
        self.tree.getServiceNamed("camera-monitor").stopService()
        self.tree.getServiceNamed("cameras").stopService()

    @property
    def stream_probes(self) -> dict:
        """url -> capabilities the fake prober answers (others: unreachable)."""
        return self.tree.stream_probes

    @property
    def holders(self):
        return self.tree.getServiceNamed("stream-holders")

    @property
    def mediamtx(self):
        return self.tree.mediamtx

    @property
    def controller(self):
        return self.tree.getServiceNamed("mediamtx")

    @property
    def dispatcher(self) -> Dispatcher:
        return self.tree.getServiceNamed("api").factory.dispatcher

    @property
    def registry(self):
        return self.tree.getServiceNamed("cameras")

    @property
    def bus(self):
        return self.tree.bus

    @property
    def notifier(self):
        return self.tree.getServiceNamed("api").factory.notifier

    def session(self, role: Optional[str] = None, rate: Optional[TokenBucket] = None, cameras=None, expires_in=3600.0) -> Session:
        sent: list = []
        session = Session(self.clock, sent.append, peer="tcp:127.0.0.1:1", rate_limiter=rate)
        self.outboxes[session.conn_id] = sent
        self.notifier.attach(session)
        if role is not None:
            session.log_in(
                Principal(
                    "tester",
                    Role.parse(role),
                    self.clock.seconds() + expires_in if expires_in is not None else None,
                    frozenset(cameras) if cameras is not None else None,
                )
            )
        return session

    def token(self, role: str = "admin", ttl: float = 3600, cameras=None) -> str:
        return TokenAuthority(SECRET, self.clock).issue("tester", Role.parse(role), ttl, cameras)

    def raw(self, session: Session, payload) -> Optional[dict]:
        """Send bytes (or an object, JSON-encoded); the decoded reply."""
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload)
        reply = self.dispatcher.handle(session, payload)
        if isinstance(reply, defer.Deferred):
            results = []
            reply.addBoth(results.append)
            assert results, "the reply has not fired"
            reply = results[0]
        return json.loads(reply) if reply is not None else None

    def call(self, session: Session, method: str, params: Any = None, msg_id: Any = 1) -> dict:
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        return self.raw(session, message)


def make_harness(config: Config, clock, mediamtx=None) -> Harness:
    """The service tree on ``clock`` with a fake MediaMTX API."""
    from fakes.holders import FakeHolders
    from fakes.udev import FakeUdevContext
    from fakes.mediamtx import FakeMediaMTX

    from fakes.process_reactor import FakeProcessReactor

    mediamtx = mediamtx or FakeMediaMTX(clock)
    # no FFmpeg here: a capture fails at once (-32050)
    no_ffmpeg = FakeProcessReactor()
    no_ffmpeg.spawn_error = OSError(2, "No such file or directory")
    probes = {}

    async def probe(url):
        from camservice.cameras.stream_probe import StreamUnreachable

        if url not in probes:
            raise StreamUnreachable("connection refused")
        return probes[url]

    tree = build_service(
        config,
        SECRET,
        clock,
        overrides=Overrides(
            mediamtx_api=mediamtx,
            retry_jitter=lambda: 0,
            stream_probe=probe,
            run_blocking=lambda f, *a, **kw: defer.maybeDeferred(f, *a, **kw),
            stream_holders=FakeHolders(mediamtx),
            udev_context=FakeUdevContext,
            has_udev=lambda: False,
            resolve=lambda host: defer.fail(OSError(f"{host}: name not known")),
            capture_reactor=no_ffmpeg,
        ),
    )
    tree.stream_probes = probes
    tree.mediamtx = mediamtx
    tree.getServiceNamed("api").factory.notifier.start()
    tree.getServiceNamed("cameras").startService()
    tree.getServiceNamed("camera-monitor").startService()
    tree.getServiceNamed("external-streams").startService()
    tree.getServiceNamed("mediamtx").startService()
    tree.getServiceNamed("streams").startService()
    tree.getServiceNamed("media-files").startService()
    tree.getServiceNamed("recordings").startService()
    return Harness(config, clock, tree)
