"""Reloading the configuration while running, with rollback.

SIGHUP and the admin method ``reload_config`` call
:meth:`ReloadCoordinator.reload`. One reload runs at a time; requests
arriving meanwhile are coalesced into one more run. A run:

1. **load**: the file and the environment, validated, in a thread. Any
   problem: nothing is touched.
2. **check**: every participant's side-effect-free ``checkConfig(new)``;
   every ``ConfigError`` is gathered. A changed key that no participant
   takes while running is refused by name here.
3. **apply**: ``reconfigService(new)`` on each participant in priority
   order, one at a time.
4. **rollback**: if one fails, ``reconfigService(old)`` on those already
   applied, in reverse order; the old config stays.
5. **commit**: the new config becomes current, a timestamped copy of the
   file is kept, admins get ``system.config_changed``.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

from twisted.application import service
from twisted.internet import defer, threads
from twisted.logger import Logger

from camservice._defer import async_to_deferred
from camservice.config import ConfigError, ConfigProblem, load_config
from camservice.config.model import Config
from camservice.ops.backups import ConfigBackups
from camservice.ops.errors import ReloadRefused
from camservice.security.redact import redact_text

__all__ = [
    "FROZEN_KEYS",
    "Reconfigurable",
    "ReloadCoordinator",
    "ReloadResult",
    "changed_keys",
    "changed_sections",
    "file_loader",
]

#: Keys that can never change while running: the process would have to
#: give up what it holds (a bound port, its state folder, the kind of
#: MediaMTX it runs). Refused by name; a restart applies them.
FROZEN_KEYS = (
    "data_dir",
    "server.host",
    "server.port",
    "server.websocket_path",
    "mediamtx.mode",
)

#: Keys whose values are secrets: a refusal names them without the value.
_SECRET_KEY = re.compile(r"(?i)(secret|password|passwd|passphrase|token|credential)(?!.*_file$)")

#: Bookkeeping fields of :class:`Config`, not settings.
_NOT_SETTINGS = frozenset({"source", "migrated_from"})


class Reconfigurable(Protocol):
    """What a service taking part in reloads implements.

    :ivar reloadable_keys: dotted key prefixes it takes at run time.
    """

    reloadable_keys: Sequence[str]

    def checkConfig(self, new: Config) -> None:
        """Raise ``ConfigError`` naming keys if ``new`` cannot be applied;
        no side effects."""

    def reconfigService(self, new: Config) -> defer.Deferred:
        """Apply ``new`` (idempotent; also called with the old config to
        roll back)."""


@dataclasses.dataclass(frozen=True)
class ReloadResult:
    """What one reload did.

    :ivar status: ``applied``, ``unchanged``, ``refused`` or
        ``rolled_back``.
    :ivar changed: the top-level sections that changed (or would have).
    :ivar reasons: why it was refused, one line each.
    :ivar stage: ``load``, ``check`` or ``apply`` when refused.
    :ivar backup: the copy written, if any.
    """

    status: str
    who: str
    changed: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    stage: Optional[str] = None
    backup: Optional[str] = None

    def as_dict(self) -> dict:
        data = {"status": self.status, "who": self.who, "changed": list(self.changed)}
        if self.reasons:
            data["reasons"] = list(self.reasons)
            data["stage"] = self.stage
        if self.backup is not None:
            data["backup"] = self.backup
        return data


def _flatten(value: Any, prefix: str, out: dict) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for member in dataclasses.fields(value):
            if not prefix and member.name in _NOT_SETTINGS:
                continue
            _flatten(getattr(value, member.name), f"{prefix}.{member.name}" if prefix else member.name, out)
    else:
        out[prefix] = value


def changed_keys(old: Config, new: Config) -> list[str]:
    """Dotted keys whose values differ (a list such as
    ``cameras.declared`` counts as one key)."""
    a: dict = {}
    b: dict = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def changed_sections(old: Config, new: Config) -> list[str]:
    """Top-level sections (or keys such as ``data_dir``) that differ."""
    return sorted({key.split(".", 1)[0] for key in changed_keys(old, new)})


def problem_lines(error: ConfigError) -> list[str]:
    """``error``'s lines fit for logs and admins: no secret values, no
    credentials in URLs."""
    lines = []
    for problem in error.problems:
        if _SECRET_KEY.search(problem.key.rsplit(".", 1)[-1]):
            problem = ConfigProblem(problem.key, problem.rule, source=problem.source)
        lines.append(redact_text(str(problem)))
    return lines


def _covered(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def file_loader(path: Optional[os.PathLike | str], reactor, environ: Optional[Mapping[str, str]] = None):
    """``load() -> Deferred[(Config, text)]``: read ``path`` once and load
    it with the environment's overrides, in the reactor's thread pool."""

    def blocking() -> tuple[Config, str]:
        from camservice.config.loader import default_config_path

        file_path = Path(path) if path is not None else default_config_path()
        try:
            text = file_path.read_text("utf-8")
        except OSError as e:
            raise ConfigError([ConfigProblem("", f"cannot read the config file: {e.strerror}", source=str(file_path))])
        except UnicodeDecodeError:
            raise ConfigError([ConfigProblem("", "the config file is not UTF-8 text", source=str(file_path))])
        return load_config(file_path, environ, text=text), text

    def load() -> defer.Deferred:
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), blocking)

    return load


class ReloadCoordinator(service.Service):
    """Runs reloads one at a time over the participants, in order.

    :param config: the config in force now.
    :param load: ``() -> Deferred[(Config, text)]`` (see :func:`file_loader`).
    :param participants: ``(name, Reconfigurable)`` in apply order.
    :param bus: receives ``system.config_changed``.
    :param metrics: counts reloads by outcome.
    :param clock: ``IReactorTime``.
    :param audit: records who reloaded and the outcome, or ``None``.
    :param backups: where accepted files are copied, or ``None``.
    :param run_blocking: ``(f, *args) -> Deferred``: backups are written
        through it (default: the reactor's thread pool).
    :param on_commit: called with the new config once it is current.
    """

    log = Logger()

    def __init__(
        self,
        config: Config,
        load: Callable[[], defer.Deferred],
        participants: Sequence[tuple[str, Reconfigurable]],
        bus,
        metrics,
        clock,
        audit=None,
        backups: Optional[ConfigBackups] = None,
        run_blocking: Optional[Callable] = None,
        on_commit: Optional[Callable[[Config], None]] = None,
    ):
        self.config = config
        self._load = load
        self.participants = list(participants)
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._audit = audit
        self._backups = backups
        self._run_blocking = run_blocking or (
            lambda f, *a: threads.deferToThreadPool(clock, clock.getThreadPool(), f, *a)
        )
        self._on_commit = on_commit
        self.running_reload = False
        self.runs = 0
        self._next: list[defer.Deferred] = []
        self._next_who: Optional[str] = None

    def reload(self, who: str = "SIGHUP") -> defer.Deferred:
        """Reload now, or once the reload running now is done.

        :param who: ``"SIGHUP"`` or the admin's user id.
        :returns: a Deferred firing with the :class:`ReloadResult` of the
            run that covers this request (never fails).
        """
        d: defer.Deferred = defer.Deferred()
        if self.running_reload:
            if self._next:
                self.log.info("reload requested by {who} while one is pending: coalesced", who=who)
            self._next.append(d)
            self._next_who = who if self._next_who is None else self._next_who
            return d
        self._start(who, [d])
        return d

    def _start(self, who: str, waiters: list) -> None:
        self.running_reload = True
        self.runs += 1
        done = self._walk(who)

        def finished(result):
            self.running_reload = False
            for waiter in waiters:
                waiter.callback(result)
            if self._next:
                waiters_next, who_next = self._next, self._next_who
                self._next, self._next_who = [], None
                self._start(who_next, waiters_next)

        def bug(failure):
            self.log.failure("reload failed unexpectedly", failure)
            return ReloadResult("refused", who, reasons=(failure.getErrorMessage(),), stage="apply")

        done.addErrback(bug).addCallback(finished)

    @async_to_deferred
    async def _walk(self, who: str) -> ReloadResult:
        old = self.config
        self.log.info("reloading the configuration from {source} (requested by {who})", source=old.source, who=who)
        try:
            new, text = await self._load()
        except ConfigError as e:
            return self._refused(who, "load", problem_lines(e), (), "refused")
        if new.migrated_from is not None:
            self.log.warn(
                "{source}: version {old_version} migrated to {version}; update the file",
                source=new.source, old_version=new.migrated_from, version=new.version,
            )
        sections = tuple(changed_sections(old, new))
        if not sections:
            self.log.info("configuration unchanged")
            self._metrics.config_reloads.labels("unchanged").inc()
            return ReloadResult("unchanged", who)

        problems = self._check(old, new)
        if problems:
            return self._refused(who, "check", problems, sections, "refused")

        applied: list[tuple[str, Reconfigurable]] = []
        for name, participant in self.participants:
            try:
                await defer.maybeDeferred(participant.reconfigService, new)
            except Exception as e:
                reason = redact_text(f"{name}: {e}")
                self.log.error(
                    "service {service} failed to apply the new configuration: {reason}; rolling back",
                    service=name, reason=str(e),
                )
                await self._rollback(applied, old)
                return self._refused(who, "apply", [reason], sections, "rolled_back")
            applied.append((name, participant))

        self.config = new
        backup = None
        if self._backups is not None:
            try:
                path = await self._run_blocking(self._backups.write, text, self._clock.seconds(), new.reload.backups)
                backup = str(path) if path is not None else None
            except OSError as e:
                self.log.error("cannot back up the configuration in {folder}: {reason}",
                               folder=str(self._backups.folder), reason=str(e))
        if self._on_commit is not None:
            self._on_commit(new)
        result = ReloadResult("applied", who, sections, backup=backup)
        self._metrics.config_reloads.labels("applied").inc()
        self.log.info("configuration reloaded: {changed} changed (requested by {who})",
                      changed=",".join(sections), who=who, sections=list(sections))
        self._announce(result)
        if self._audit is not None:
            self._audit.record("reload_config", "success", who=who, changed=list(sections))
        return result

    def _check(self, old: Config, new: Config) -> list[str]:
        problems: list[str] = []
        reloadable = ["reload"] + [p for _, participant in self.participants for p in participant.reloadable_keys]
        for key in changed_keys(old, new):
            if _covered(key, FROZEN_KEYS) or not _covered(key, reloadable):
                problems.append(f"{key}: cannot change while running; restart camservice to apply it")
        for name, participant in self.participants:
            try:
                participant.checkConfig(new)
            except ConfigError as e:
                problems.extend(problem_lines(e))
            except Exception as e:
                problems.append(f"{name}: {e}")
        return problems

    async def _rollback(self, applied: list, old: Config) -> None:
        for name, participant in reversed(applied):
            try:
                await defer.maybeDeferred(participant.reconfigService, old)
            except Exception as e:
                self.log.critical(
                    "service {service} cannot return to the previous configuration: {reason}",
                    service=name, reason=str(e),
                )

    def _refused(self, who: str, stage: str, reasons, sections, status: str) -> ReloadResult:
        result = ReloadResult(status, who, tuple(sections), tuple(reasons), stage)
        self._metrics.config_reloads.labels(status).inc()
        self.log.error(
            "configuration reload refused ({stage}), the running configuration stays: {reasons}",
            stage=stage, reasons=list(result.reasons), who=who,
        )
        self._announce(result)
        if self._audit is not None:
            self._audit.record("reload_config", "refused", who=who, stage=stage, reasons=list(result.reasons))
        return result

    def _announce(self, result: ReloadResult) -> None:
        self._bus.publish("system.config_changed", **result.as_dict())


def refusal(result: ReloadResult) -> ReloadRefused:
    """The exception an RPC caller gets for a refused reload."""
    return ReloadRefused(result.stage or "apply", result.reasons)
