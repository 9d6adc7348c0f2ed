"""The ``external-streams`` service: network cameras added at run time.

Each added stream becomes a network camera with its own id (numbered from
``camera2000``, clear of USB and declared cameras) whose MediaMTX path pulls
the URL. Streams are kept in a JSON file written atomically (temporary
file, fsync, rename) in a thread, so they come back after any restart.
Discovery only ever probes the configured candidate URLs.

Every URL is checked (:mod:`camservice.security.urls`) and its target
allowed (:mod:`camservice.security.targets`) before anything connects to
it; probes run a few at a time and are cancelled when their stream is
removed; URLs are redacted in every log line and client-facing text.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

from twisted.internet import defer, task, threads
from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.cameras.model import Camera, CameraKind, CameraStatus, ValidationStatus, camera_number
from camservice.cameras.registry import CameraRegistry
from camservice.cameras.stream_probe import StreamUnreachable, probe_stream
from camservice.config.model import ExternalStreamsConfig
from camservice.fileutil import atomic_write, ensure_dir
from camservice.security.errors import BadStreamURL, TargetRefused
from camservice.security.redact import redact_url
from camservice.security.targets import TargetPolicy, own_ports, resolver
from camservice.security.urls import parse_stream_url
from camservice.service import Component
from camservice.timeutil import iso_timestamp

__all__ = [
    "AmbiguousStream",
    "DiscoveryDisabled",
    "DuplicateStream",
    "ExternalStream",
    "ExternalStreams",
    "FIRST_EXTERNAL_ID",
    "UnknownStream",
    "stream_type_of",
]

FIRST_EXTERNAL_ID = 2000
_FORMAT = 1
_TYPES = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "rtmp", "rtmps": "rtmp", "srt": "srt", "http": "hls", "https": "hls"}


def stream_type_of(url: str) -> str:
    """``rtsp``, ``rtmp``, ``srt`` or ``hls``, from the URL's scheme."""
    return _TYPES[url.split("://", 1)[0].lower()]


class DuplicateStream(Exception):
    """The URL (or the name) is already added."""


class UnknownStream(KeyError):
    """No added stream has this URL."""


class AmbiguousStream(KeyError):
    """A redacted URL that stands for more than one added stream."""


class DiscoveryDisabled(Exception):
    """No candidate URLs are configured."""


@dataclass(frozen=True)
class ExternalStream:
    """One added stream, as persisted."""

    id: str
    url: str
    name: str
    type: str
    added_at: float
    last_seen: Optional[float] = None
    capabilities: Optional[dict] = None


class ExternalStreams(Component):
    """Adds, removes, persists and discovers network cameras.

    :param store_path: the JSON file that keeps added streams.
    :param registry: where the streams appear as cameras.
    :param probe: ``async (url) -> {codec, width, height, fps}``, raising
        :class:`StreamUnreachable` (default: ffprobe).
    :param run_blocking: runs a blocking function off the reactor thread,
        returning a Deferred (default: ``deferToThread``).
    :param policy: which hosts may be connected to (default: the
        configured ``allowed_targets``, names resolved in a thread).
    """

    log = Logger()

    def __init__(
        self,
        config: ExternalStreamsConfig,
        store_path: Path,
        registry: CameraRegistry,
        reactor,
        probe=None,
        run_blocking=threads.deferToThread,
        policy: Optional[TargetPolicy] = None,
    ):
        super().__init__()
        self._probe = probe or (
            lambda url: probe_stream(reactor, url, self._config.probe_timeout, self._config.ffprobe)
        )
        self._policy = policy or TargetPolicy(
            config.allowed_targets, (), resolver(reactor, config.resolve_timeout)
        )
        self._probe_slots = defer.DeferredSemaphore(config.probe_concurrency)
        self._probing: dict[str, set[defer.Deferred]] = {}
        #: url -> why an added stream is not used (a URL kept from an older
        #: version that breaks today's rules)
        self._refused: dict[str, str] = {}
        self._run_blocking = run_blocking
        self._config = config
        self._path = Path(store_path)
        self._registry = registry
        self._reactor = reactor
        self._streams: dict[str, ExternalStream] = {}
        self._write_lock = defer.DeferredLock()
        self.scan_interval = config.scan_interval
        self._loop: Optional[task.LoopingCall] = None
        self.last_scan: list[dict] = []

    # -- reload ----------------------------------------------------------

    #: What a reload takes: the candidates to scan, the probe's timeout and
    #: program, the targets allowed for new streams (streams added before
    #: are checked again at the next scan), the scan interval (kept, as
    #: ``set_discovery_interval`` keeps it), the probe concurrency (probes
    #: queued or running finish under the old limit, later ones get the
    #: new) and the resolver's timeout (lookups starting afterwards). The
    #: ports camservice's own URLs may not point at follow every reload.
    reloadable_keys = tuple(f"external_streams.{k}" for k in (
        "candidates", "probe_timeout", "ffprobe", "allowed_targets", "scan_interval", "probe_concurrency",
        "resolve_timeout",
    ))

    def checkConfig(self, new) -> None:
        """Nothing to refuse: the loader has parsed every target."""

    @async_to_deferred
    async def reconfigService(self, new) -> None:
        if isinstance(self._policy, TargetPolicy):
            self._policy.set_own_ports(own_ports(new))
        old, section = self._config, new.external_streams
        if section == old:
            return
        self._take(section)
        if section.scan_interval != old.scan_interval and self.running:
            try:
                await self.set_scan_interval(section.scan_interval)
            except Exception:
                self._take(old)
                raise

    def _take(self, section: ExternalStreamsConfig) -> None:
        old = self._config
        if isinstance(self._policy, TargetPolicy):
            if section.allowed_targets != old.allowed_targets:
                self._policy.set_allowed(section.allowed_targets)
            if section.resolve_timeout != old.resolve_timeout:
                self._policy.set_resolve_timeout(section.resolve_timeout)
        if section.probe_concurrency != old.probe_concurrency:
            self._probe_slots = defer.DeferredSemaphore(section.probe_concurrency)
        self._config = section

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        document = self._load()
        self.scan_interval = document.get("scan_interval", self._config.scan_interval)
        for entry in document.get("streams", []):
            try:
                stream = ExternalStream(**entry)
                camera_number(stream.id)
            except (TypeError, ValueError):
                self.log.error("unreadable external stream entry in {path}; skipped", path=str(self._path))
                continue
            if stream.id in self._registry:
                self.log.error(
                    "external stream {url} keeps id {camera_id}, which another camera has; not restored",
                    url=redact_url(stream.url), camera_id=stream.id,
                )
                continue
            self._streams[stream.url] = stream
            try:
                self._policy.check_literal(parse_stream_url(stream.url))
            except (BadStreamURL, TargetRefused) as e:
                self._refuse(stream, e)
                continue
            self._registry.add(self._camera(stream, CameraStatus.CONNECTED))
        self._schedule()

    def _refuse(self, stream: ExternalStream, refusal) -> None:
        """Keep ``stream`` (it can be listed and removed) but use it no
        more: its camera goes, so MediaMTX never gets its path."""
        self._refused[stream.url] = f"refused: the stream URL {refusal.rule}"
        if stream.id in self._registry:
            self._registry.remove(stream.id)
        self.log.error(
            "external stream {url} ({camera_id}) is not used: the URL {rule}",
            url=redact_url(stream.url), camera_id=stream.id, rule=refusal.rule,
        )

    def refusal(self, url: str) -> Optional[str]:
        """Why an added stream is not used, or ``None`` if it is."""
        return self._refused.get(url)

    def stop(self) -> defer.Deferred:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        for url in list(self._probing):
            self._cancel_probes(url)
        # wait for a write in progress
        return self._write_lock.run(lambda: None)

    def _load(self) -> dict:
        try:
            return json.loads(self._path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise RuntimeError(f"{self._path}: unreadable external streams file: {e}")

    def _schedule(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self.scan_interval > 0 and self.running:
            self._loop = task.LoopingCall(self._scheduled_scan)
            self._loop.clock = self._reactor
            self._loop.start(self.scan_interval, now=False).addErrback(
                lambda f: self.log.failure("discovery loop stopped", failure=f)
            )

    async def _persist(self) -> None:
        document = {
            "version": _FORMAT,
            "scan_interval": self.scan_interval,
            "streams": [asdict(s) for s in sorted(self._streams.values(), key=lambda s: camera_number(s.id))],
        }
        data = json.dumps(document, indent=2).encode("utf-8") + b"\n"

        def write() -> None:
            ensure_dir(self._path.parent)
            atomic_write(self._path, data, mode=0o600)

        await self._write_lock.run(self._run_blocking, write)

    # -- streams ---------------------------------------------------------

    @property
    def scanning(self) -> bool:
        """Whether automatic scans are scheduled."""
        return self._loop is not None and self._loop.running

    def streams(self) -> list[ExternalStream]:
        return sorted(self._streams.values(), key=lambda s: camera_number(s.id))

    def _camera(self, stream: ExternalStream, status: CameraStatus, error: Optional[str] = None) -> Camera:
        caps = stream.capabilities or {}
        resolution = f"{caps['width']}x{caps['height']}" if caps.get("width") and caps.get("height") else "unknown"
        fps = int(round(caps["fps"])) if caps.get("fps") else 0
        return Camera(
            id=stream.id,
            kind=CameraKind.NETWORK,
            name=stream.name,
            status=status,
            resolution=resolution,
            fps=fps,
            formats=(caps["codec"].upper(),) if caps.get("codec") else (),
            resolutions=(resolution,) if caps.get("width") else (),
            fps_options=(fps,) if fps else (),
            validation_status=ValidationStatus.CONFIRMED if caps else ValidationStatus.NONE,
            source=stream.url,
            error=error,
        )

    def _next_id(self) -> str:
        number = FIRST_EXTERNAL_ID
        taken = {camera_number(c.id) for c in self._registry.cameras()} | {
            camera_number(s.id) for s in self._streams.values()
        }
        while number in taken:
            number += 1
        return f"camera{number}"

    def find(self, url: str) -> ExternalStream:
        """The added stream with ``url``, or whose redacted URL is ``url``
        (what viewers see).

        :raises UnknownStream: none.
        :raises AmbiguousStream: the redacted URL stands for several.
        """
        stream = self._streams.get(url)
        if stream is not None:
            return stream
        matches = [s for s in self._streams.values() if redact_url(s.url) == url]
        if len(matches) > 1:
            raise AmbiguousStream(url)
        if not matches:
            raise UnknownStream(url)
        return matches[0]

    async def add(self, url: str, name: str, stream_type: Optional[str] = None) -> ExternalStream:
        """Add ``url`` as a camera; probes it once for its capabilities.

        :raises BadStreamURL: the URL is not well formed.
        :raises TargetRefused: the URL points where camservice must not
            connect.
        :raises DuplicateStream: the URL or name is already added.
        :raises CameraLimitReached: the camera table is full.
        """
        target = parse_stream_url(url)
        if url in self._streams or any(s.name == name for s in self._streams.values()):
            raise DuplicateStream(url)
        await self._policy.check(target)
        if url in self._streams or any(s.name == name for s in self._streams.values()):
            raise DuplicateStream(url)  # added while the name was looked up
        now = self._reactor.seconds()
        stream = ExternalStream(self._next_id(), url, name, stream_type or stream_type_of(url), now)
        self._streams[url] = stream
        try:
            self._registry.add(self._camera(stream, CameraStatus.CONNECTED))
        except Exception:
            del self._streams[url]
            raise
        try:
            await self._persist()
        except Exception:
            del self._streams[url]
            self._registry.remove(stream.id)
            raise
        self.log.info("external stream {url} added as {camera_id}", url=redact_url(url), camera_id=stream.id)
        await self._check(stream, target_checked=True)
        return self._streams.get(url, stream)

    async def remove(self, url: str) -> ExternalStream:
        """Remove an added stream and its camera; cancels its probes.

        :param url: the URL, or the redacted URL viewers see.
        :raises UnknownStream: not added.
        :raises AmbiguousStream: see :meth:`find`.
        """
        stream = self.find(url)
        url = stream.url
        del self._streams[url]
        try:
            await self._persist()
        except Exception:
            self._streams[url] = stream
            raise
        self._cancel_probes(url)
        self._refused.pop(url, None)
        if stream.id in self._registry:
            self._registry.remove(stream.id)
        self.log.info("external stream {url} ({camera_id}) removed", url=redact_url(url), camera_id=stream.id)
        return stream

    def _probe_limited(self, url: str, track: bool = True) -> defer.Deferred:
        """Probe ``url`` once a probe slot is free; with ``track``, the
        Deferred is cancelled (and ffprobe stopped) if the stream is
        removed."""

        async def run():
            slots = self._probe_slots  # a reload may swap it meanwhile
            await slots.acquire()
            try:
                return await self._probe(url)
            finally:
                slots.release()

        d = defer.ensureDeferred(run())
        if not track:
            return d
        waiting = self._probing.setdefault(url, set())
        waiting.add(d)

        def done(result):
            waiting.discard(d)
            if not waiting and self._probing.get(url) is waiting:
                del self._probing[url]
            return result

        return d.addBoth(done)

    def _cancel_probes(self, url: str) -> None:
        for d in list(self._probing.pop(url, ())):
            d.cancel()

    async def _check(self, stream: ExternalStream, target_checked: bool = False) -> Optional[dict]:
        """Probe an added stream and update its camera: CONNECTED with what
        it carries, or ERROR with why not (the full reason is logged, the
        client sees a neutral one)."""
        if stream.url in self._refused:
            return None
        current = self._streams.get(stream.url)
        if current is None or current.id != stream.id:
            return None  # removed while its record was being written
        if not target_checked:
            try:
                await self._policy.check(parse_stream_url(stream.url))
            except (BadStreamURL, TargetRefused) as e:
                if stream.url in self._streams:
                    self._refuse(self._streams[stream.url], e)
                return None
            current = self._streams.get(stream.url)
            if current is None or current.id != stream.id:
                return None  # removed while its host name was looked up
        try:
            caps = await self._probe_limited(stream.url)
        except defer.CancelledError:
            if self._streams.get(stream.url) is not None and self._streams[stream.url].id == stream.id:
                raise  # not cancelled by a removal: the caller's own cancel
            return None
        except StreamUnreachable as e:
            self.log.warn(
                "external stream {url} ({camera_id}) unreachable: {detail}",
                url=redact_url(stream.url), camera_id=stream.id, detail=getattr(e, "detail", str(e)),
            )
            if stream.url in self._streams and stream.id in self._registry:
                self._registry.add(self._camera(self._streams[stream.url], CameraStatus.ERROR, str(e)))
            return None
        if stream.url not in self._streams:
            return caps
        updated = replace(self._streams[stream.url], last_seen=self._reactor.seconds(), capabilities=caps)
        self._streams[stream.url] = updated
        if stream.id in self._registry:
            self._registry.add(self._camera(updated, CameraStatus.CONNECTED))
        await self._persist()
        return caps

    # -- discovery -------------------------------------------------------

    async def discover(self, include_offline: bool = False) -> list[dict]:
        """Probe every candidate URL (never anything else).

        :raises DiscoveryDisabled: no candidates are configured.
        :returns: one entry per candidate that answered (and, with
            ``include_offline``, per candidate that did not).
        """
        if not self._config.candidates:
            raise DiscoveryDisabled()

        async def one(url: str) -> dict:
            added = self._streams.get(url)
            try:
                await self._policy.check(parse_stream_url(url))
                # not tracked: removing an added stream with the same URL
                # must not break the scan
                caps = await self._probe_limited(url, track=False)
                status, error = "ONLINE", None
            except (BadStreamURL, TargetRefused) as e:
                caps, status, error = None, "OFFLINE", f"refused: the stream URL {e.rule}"
            except StreamUnreachable as e:
                self.log.warn("candidate {url} unreachable: {detail}",
                              url=redact_url(url), detail=getattr(e, "detail", str(e)))
                caps, status, error = None, "OFFLINE", str(e)
            entry = {"url": redact_url(url), "type": stream_type_of(url), "status": status,
                     "capabilities": caps, "added": added is not None,
                     "device": added.id if added else None}
            if error:
                entry["error"] = error
            return entry

        results = await defer.gatherResults(
            [defer.ensureDeferred(one(u)) for u in self._config.candidates], consumeErrors=True
        )
        now = self._reactor.seconds()
        for entry in results:
            entry["last_seen"] = iso_timestamp(now) if entry["status"] == "ONLINE" else None
        self.last_scan = results
        return [r for r in results if include_offline or r["status"] == "ONLINE"]

    @async_to_deferred
    async def _scheduled_scan(self) -> None:
        # A loop body must not raise (the LoopingCall would stop): probe
        # failures are handled per stream; anything else is logged here.
        try:
            for stream in self.streams():
                await self._check(stream)
            if self._config.candidates:
                await self.discover()
        except Exception:
            self.log.failure("scheduled discovery scan failed")

    async def set_scan_interval(self, seconds: float) -> None:
        """Change (and keep) the automatic scan interval; 0 turns it off."""
        old = self.scan_interval
        self.scan_interval = seconds
        try:
            await self._persist()
        except Exception:
            self.scan_interval = old
            raise
        self._schedule()
