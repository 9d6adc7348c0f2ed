"""The ``retention`` service: which old recordings and snapshots go.

The policy in force is ``media.retention`` from the configuration until
``set_retention_policy`` stores one in ``<data_dir>/retention.json``
(written atomically); from then on the stored one wins, across restarts
and reloads.

- ``age``: files older than ``max_age_days`` go;
- ``size``: the oldest files go while recordings and snapshots together
  hold more than ``max_size_gb`` (GB of 10^9 bytes);
- ``manual``: nothing runs by itself; ``cleanup_old_files`` applies both
  limits.

A cleanup deletes the oldest finalized files first, never one that is
held (being finalized, downloaded or probed), removes them from the index
at once and unlinks them in a thread; each deletion is an audit event.
With ``enabled`` and an ``age`` or ``size`` policy, a cleanup runs every
``interval`` seconds.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.config.model import RetentionConfig
from camservice.fileutil import atomic_write
from camservice.media.files import KINDS, MediaFile, MediaFiles

__all__ = ["AGE", "MANUAL", "POLICY_TYPES", "SIZE", "Cleanup", "Retention", "RetentionPolicy"]

AGE, SIZE, MANUAL = "age", "size", "manual"
POLICY_TYPES = (AGE, SIZE, MANUAL)
GB = 10 ** 9
DAY = 86400.0


@dataclass(frozen=True)
class RetentionPolicy:
    """What ``set_retention_policy`` stores (and ``get`` reports)."""

    policy_type: str
    enabled: bool
    max_age_days: float
    max_size_gb: float

    @classmethod
    def from_config(cls, config: RetentionConfig) -> "RetentionPolicy":
        return cls(config.policy_type, config.enabled, config.max_age_days, config.max_size_gb)

    @property
    def automatic(self) -> bool:
        """Whether it runs by itself."""
        return self.enabled and self.policy_type != MANUAL

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Cleanup:
    """What one cleanup did.

    :ivar space_freed: bytes.
    """

    files_deleted: int
    space_freed: int
    skipped_held: int
    failed: int


def _read_policy(path: Path) -> Optional[dict]:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    return document if isinstance(document, dict) else None


def _valid(document: dict, fallback: RetentionPolicy) -> RetentionPolicy:
    """The stored policy, each unusable value replaced by ``fallback``'s."""
    def number(key: str, default: float) -> float:
        value = document.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        return value if ok else default

    kind = document.get("policy_type")
    enabled = document.get("enabled")
    return RetentionPolicy(
        kind if kind in POLICY_TYPES else fallback.policy_type,
        enabled if isinstance(enabled, bool) else fallback.enabled,
        number("max_age_days", fallback.max_age_days),
        number("max_size_gb", fallback.max_size_gb),
    )


class Retention(service.Service):
    """Applies the retention policy.

    :param config: ``media.retention`` (defaults and the interval).
    :param path: where ``set_retention_policy`` stores the policy.
    :param files: the file index (what exists, what is held, deleting).
    :param audit: records each deletion (an :class:`camservice.rpc.audit.Audit`).
    :param clock: ``IReactorTime`` (file ages are measured from
        ``clock.seconds()``, POSIX time).
    :param run_blocking: runs file reads and writes off the reactor thread.
    """

    log = Logger(namespace="camservice.media.retention")

    reloadable_keys = ("media.retention",)

    def __init__(
        self,
        config: RetentionConfig,
        path: Path,
        files: MediaFiles,
        audit,
        clock,
        run_blocking: Callable = threads.deferToThread,
    ):
        self.config = config
        self._path = Path(path)
        self._files = files
        self._audit = audit
        self._clock = clock
        self._run_blocking = run_blocking
        self._stored: Optional[RetentionPolicy] = None
        self._stored_raw: Optional[dict] = None
        self._loaded: Optional[defer.Deferred] = None
        self._lock = defer.DeferredLock()
        self._loop: Optional[task.LoopingCall] = None
        self._loop_interval: Optional[float] = None

    @property
    def policy(self) -> RetentionPolicy:
        """The policy in force: the stored one, else the configuration's."""
        return self._stored if self._stored is not None else RetentionPolicy.from_config(self.config)

    # -- life ------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._loaded = self._load()
        self._loaded.addCallback(lambda _: self._arm())
        self._loaded.addErrback(lambda f: self.log.failure("could not load the retention policy", failure=f))

    def stopService(self):
        super().stopService()
        self._disarm()
        # a cleanup in progress finishes its thread job first
        return self._lock.run(lambda: None)

    @async_to_deferred
    async def _load(self) -> None:
        try:
            document = await self._run_blocking(_read_policy, self._path)
        except (OSError, ValueError) as e:
            self.log.error("the stored retention policy {path} cannot be read ({reason}); using media.retention",
                           path=str(self._path), reason=str(e))
            return
        if document is not None:
            self._stored_raw = document
            self._stored = _valid(document, RetentionPolicy.from_config(self.config))

    def _when_loaded(self) -> defer.Deferred:
        if self._loaded is None or self._loaded.called:
            return defer.succeed(None)
        d: defer.Deferred = defer.Deferred()
        self._loaded.addBoth(lambda r: (d.callback(None), r)[1])
        return d

    def _arm(self) -> None:
        """Run the loop when the policy is automatic, at its interval."""
        want = self.config.interval if (self.running and self.policy.automatic) else None
        if want == self._loop_interval:
            return
        self._disarm()
        if want is None:
            return
        self._loop_interval = want
        self._loop = task.LoopingCall(self._automatic)
        self._loop.clock = self._clock
        # the first run after one interval: a restart does not delete at once
        self._loop.start(want, now=False).addErrback(
            lambda f: self.log.failure("automatic cleanup stopped", failure=f)
        )

    def _disarm(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        self._loop_interval = None

    def _automatic(self) -> defer.Deferred:
        d = self.cleanup(who="retention")
        d.addErrback(lambda f: self.log.failure("automatic cleanup failed", failure=f))
        return d

    # -- the policy ------------------------------------------------------

    @async_to_deferred
    async def set_policy(
        self,
        policy_type: str,
        enabled: bool,
        max_age_days: Optional[float] = None,
        max_size_gb: Optional[float] = None,
    ) -> RetentionPolicy:
        """Store a new policy (atomically) and put it in force; limits not
        given keep their current values.

        :returns: a Deferred firing with the stored policy.
        :raises ValueError: an unknown ``policy_type`` or a limit not > 0.
        :raises OSError: it could not be stored (the old one stays).
        """
        if policy_type not in POLICY_TYPES:
            raise ValueError(f"unknown policy_type {policy_type!r}")
        await self._when_loaded()
        current = self.policy
        new = replace(
            current,
            policy_type=policy_type,
            enabled=bool(enabled),
            max_age_days=current.max_age_days if max_age_days is None else max_age_days,
            max_size_gb=current.max_size_gb if max_size_gb is None else max_size_gb,
        )
        if new.max_age_days <= 0 or new.max_size_gb <= 0:
            raise ValueError("limits must be greater than 0")
        data = json.dumps(new.to_json(), indent=1).encode()
        await self._run_blocking(atomic_write, self._path, data, 0o640)
        self._stored, self._stored_raw = new, new.to_json()
        self.log.info("retention policy set: {policy}", policy=new.to_json())
        self._arm()
        return new

    # -- cleaning up -----------------------------------------------------

    def victims(self, policy: RetentionPolicy, now: float) -> tuple[list[MediaFile], int]:
        """``(files to delete, held files spared)`` under ``policy`` at
        POSIX time ``now``, oldest first."""
        everything = sorted(
            (f for kind in KINDS for f in self._files.files(kind)), key=lambda f: (f.mtime, f.name)
        )
        chosen: list[MediaFile] = []
        spared = 0
        by_age = policy.policy_type in (AGE, MANUAL)
        by_size = policy.policy_type in (SIZE, MANUAL)
        cutoff = now - policy.max_age_days * DAY
        total = sum(f.size for f in everything)
        limit = policy.max_size_gb * GB
        for f in everything:
            old = by_age and f.mtime < cutoff
            over = by_size and total > limit
            if not (old or over):
                break  # oldest first: nothing later is older, and the total only shrinks
            if self._files.held(f.kind, f.name):
                spared += 1
                continue
            chosen.append(f)
            total -= f.size
        return chosen, spared

    @async_to_deferred
    async def cleanup(self, who: Optional[str] = None, peer: str = "", request_id: Optional[str] = None) -> Cleanup:
        """Delete what the policy in force says must go (one cleanup at a
        time).

        :param who: the user asking (``retention`` for the timer), for the
            audit events.
        :returns: a Deferred firing with a :class:`Cleanup`.
        """
        await self._when_loaded()
        await self._lock.acquire()
        try:
            policy = self.policy
            chosen, spared = self.victims(policy, self._clock.seconds())
            if not chosen:
                return Cleanup(0, 0, spared, 0)
            # a hold taken meanwhile still counts: look once more, on the reactor
            chosen = [f for f in chosen if not self._files.held(f.kind, f.name)]
            outcomes = await self._files.remove(chosen)
        finally:
            self._lock.release()
        deleted = freed = failed = 0
        reason = {AGE: "older than the age limit", SIZE: "over the size limit"}.get(policy.policy_type,
                                                                                  "over a retention limit")
        for f, problem in zip(chosen, outcomes):
            if problem is None:
                deleted += 1
                freed += f.size
            else:
                failed += 1
            self._audit.record(
                "retention.delete",
                "success" if problem is None else "error",
                peer=peer,
                who=who or "retention",
                message="{who} deleted {kind} {filename} ({size} bytes, {reason}): {outcome}",
                kind=f.singular,
                filename=f.name,
                camera=f.camera_id,
                size=f.size,
                reason=reason if problem is None else problem,
                policy_type=policy.policy_type,
                request_id=request_id,
            )
        self.log.info("retention deleted {count} files, {freed} bytes freed ({spared} held, {failed} failed)",
                      count=deleted, freed=freed, spared=spared, failed=failed)
        return Cleanup(deleted, freed, spared, failed)

    # -- reload ----------------------------------------------------------

    def checkConfig(self, new) -> None:
        """Nothing to refuse: the schema bounds every value."""

    def reconfigService(self, new) -> defer.Deferred:
        """New defaults (in force unless a policy is stored; a stored one
        keeps its values but fills unusable ones from the new defaults)
        and a new interval."""
        section = new.media.retention
        if section == self.config:
            return defer.succeed(None)
        self.config = section
        if self._stored_raw is not None:
            self._stored = _valid(self._stored_raw, RetentionPolicy.from_config(section))
        self._arm()
        return defer.succeed(None)
