"""The ``recordings`` service: recordings through MediaMTX, never lost.

Starting a recording holds the camera's stream (reason ``"recording"``, so
its source stays on through camservice's one keep-alive reader) and turns
MediaMTX recording on for the camera's path, into a folder of the
session's own (``<recordings_dir>/.parts/<session id>/``). The recording
fields are part of the path configuration the MediaMTX controller
reconciles (:meth:`RecordingService.path_fields`), and MediaMTX changes
them on a live path without closing it, so viewers stay connected; after a
MediaMTX restart the controller's reconciliation turns recording back on
in the same folder and the session goes on.

A recording stops on ``stop_recording``, when its ``duration`` (at most
``media.max_recording_duration``) is up, when its camera disconnects, when
the media disk is critical and at shutdown; then recording is turned off
and the segments are finalized into one file (see
:mod:`camservice.media.finalize`).

Every session is persisted (:mod:`camservice.media.sessions`). At start,
a session left by a camservice that died is resumed (still before its
planned stop, its camera there) or finalized, and the outcome is
published (``recording.start`` with reason ``resumed_after_restart``, or
``recording.stop`` with reason ``finalized_after_restart``) and kept in
``recording_metrics.recovered``.

Shutdown finalizes every recording (reason ``shutdown``) within
``SHUTDOWN_FINALIZE_TIMEOUT`` seconds; a session not finished by then
stays in the sessions file and is finalized at the next start.
"""
from __future__ import annotations

import dataclasses
import errno
import uuid
from pathlib import Path
from typing import Callable, Optional

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from camservice._defer import async_to_deferred, locked
from camservice.cameras.errors import UnknownCamera
from camservice.config.model import MediaConfig
from camservice.events import Event, EventBus
from camservice.media.errors import (
    AlreadyRecording,
    CameraNotConnected,
    CaptureFailed,
    MediaError,
    NotRecording,
    NotStreamable,
    SourceDidNotStart,
    StorageCritical,
)
from camservice.media import finalize
from camservice.media.record_fields import record_fields
from camservice.media.sessions import (
    FINALIZE,
    FORMATS,
    RESUME,
    RecordingSession,
    SessionState,
    after_restart,
    load_sessions,
    save_sessions,
)
from camservice.mediamtx.errors import MediaMTXError
from camservice.procutil import ProcessFailed, run_checked
from camservice.timeutil import iso_timestamp

__all__ = ["HOLD", "REASONS", "RecordingService"]

#: the reason the recording holds a camera's stream with
HOLD = "recording"

#: why a recording ended (``reason`` of its events)
REQUESTED = "requested"
DURATION_REACHED = "duration_reached"
CAMERA_DISCONNECTED = "camera_disconnected"
STORAGE_CRITICAL = "storage_critical"
SHUTDOWN = "shutdown"
RESUMED_AFTER_RESTART = "resumed_after_restart"
FINALIZED_AFTER_RESTART = "finalized_after_restart"
REASONS = (REQUESTED, DURATION_REACHED, CAMERA_DISCONNECTED, STORAGE_CRITICAL, SHUTDOWN,
           RESUMED_AFTER_RESTART, FINALIZED_AFTER_RESTART)

#: seconds shutdown waits for recordings to be finalized
SHUTDOWN_FINALIZE_TIMEOUT = 15.0
#: seconds to wait for MediaMTX to close the open segment once recording
#: is off (it writes the segment's duration when it does)
SEGMENT_CLOSE_WAIT = 3.0
#: seconds between retries of holding a resumed session's stream
RESUME_RETRY = 1.0


class _NoVideo(Exception):
    """MediaMTX wrote no segment with video for the session."""



class RecordingService(service.Service):
    """Every camera's recording session.

    :param config: the ``media`` section.
    :param state_file: where sessions are persisted
        (``<data_dir>/recordings.json``).
    :param streams: the stream manager (``streamable``, ``keep_running``,
        ``let_go``).
    :param apply_paths: ``() -> Deferred`` bringing MediaMTX's paths in
        line with the desired ones, recording fields included (the
        controller's ``reconcile``); fails with :class:`MediaMTXError`.
    :param mediamtx_up: whether MediaMTX answers now (when it does not,
        no open segment is waited for).
    :param bus: camera and storage events in, ``recording.*`` out.
    :param reactor: ``IReactorTime`` and ``IReactorProcess`` (FFmpeg).
    :param run_blocking: ``(f, *args) -> Deferred`` running ``f`` in a
        thread (file work).
    :param ffmpeg: the FFmpeg that joins the segments.
    :param storage: optional; ``check_writable() -> Deferred`` failing
        with :class:`StorageCritical`, asked before each start.
    :param files: optional file index; ``added(kind=, name=, camera_id=)
        -> Deferred`` told of every finalized file.
    :param new_id: makes session ids.
    :param metrics: :class:`camservice.metrics.Metrics` (recordings
        active, finished, finalize time), if any.
    """

    log = Logger(namespace="camservice.media.recordings")

    def __init__(
        self,
        config: MediaConfig,
        state_file: Path,
        streams,
        apply_paths: Callable[[], defer.Deferred],
        mediamtx_up: Callable[[], bool],
        bus: EventBus,
        reactor,
        run_blocking: Callable[..., defer.Deferred],
        ffmpeg: str = "ffmpeg",
        storage=None,
        files=None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        metrics=None,
    ):
        self.config = config
        self._state_file = Path(state_file)
        self._streams = streams
        self._apply_paths = apply_paths
        self._mediamtx_up = mediamtx_up
        self._bus = bus
        self._clock = reactor
        self._run_blocking = run_blocking
        self._ffmpeg = ffmpeg
        self.storage = storage
        self.files = files
        self._new_id = new_id
        self._metrics = metrics
        #: camera id -> its session while starting or recording
        self._active: dict[str, RecordingSession] = {}
        #: session id -> a session being (or left to be) finalized
        self._finalizing: dict[str, RecordingSession] = {}
        self._timers: dict[str, object] = {}
        self._locks: dict[str, defer.DeferredLock] = {}
        self._persist_lock = defer.DeferredLock()
        self._tasks: set[defer.Deferred] = set()
        self._unsubscribe: Optional[Callable[[], None]] = None
        self._storage_critical: Optional[str] = None
        #: ids of finalizing sessions whose file could not be made
        self._unfinished: set[str] = set()
        #: what was done at start with sessions found unfinished
        self.recovered: list[dict] = []
        self.finalized = 0
        self.failed = 0

    @property
    def recordings_dir(self) -> Path:
        return Path(self.config.recordings_dir)

    def parts_dir(self, session: RecordingSession) -> Path:
        """Where MediaMTX writes ``session``'s segments."""
        return self.recordings_dir / ".parts" / session.session_id

    # -- lifecycle -------------------------------------------------------

    def startService(self) -> defer.Deferred:
        super().startService()
        self._unsubscribe = self._bus.subscribe(self._on_event)
        return self._recover()

    @async_to_deferred
    async def stopService(self) -> None:
        super().stopService()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for camera_id in list(self._active):
            self._background(self._stop_quietly(camera_id, SHUTDOWN))
        pending = [d for d in list(self._tasks) if not d.called]
        if pending:
            everything = defer.DeferredList(pending, consumeErrors=True)
            everything.addTimeout(SHUTDOWN_FINALIZE_TIMEOUT, self._clock)
            try:
                await everything
            except defer.TimeoutError:
                self.log.error("recordings not finalized within {timeout} s of shutdown: they will be at the "
                               "next start", timeout=SHUTDOWN_FINALIZE_TIMEOUT)
        for camera_id in list(self._timers):
            self._cancel_timer(camera_id)

    # -- reload ----------------------------------------------------------

    #: What a reload takes: the default format, the longest recording (for
    #: recordings started from then on) and the part and segment lengths
    #: (MediaMTX applies them to a live recording at once: it closes the
    #: open segment and goes on in the same folder). The folder needs a
    #: restart.
    reloadable_keys = tuple(f"media.{k}" for k in (
        "recording_format", "max_recording_duration", "part_duration", "segment_duration",
    ))

    def checkConfig(self, new) -> None:
        """Nothing to refuse beyond what the schema does."""

    @async_to_deferred
    async def reconfigService(self, new) -> None:
        old = self.config
        # the folder stays: sessions live in it until a restart
        self.config = dataclasses.replace(new.media, recordings_dir=old.recordings_dir)
        if self._active and (old.part_duration, old.segment_duration) != (
            new.media.part_duration, new.media.segment_duration
        ):
            await self._apply_quietly()

    def _background(self, coro) -> defer.Deferred:
        d = defer.ensureDeferred(coro)
        if not d.called:
            self._tasks.add(d)
            d.addBoth(lambda r: (self._tasks.discard(d), r)[1])
        d.addErrback(self._task_failed)
        return d

    def _task_failed(self, failure) -> None:
        if not failure.check(defer.CancelledError):
            self.log.failure("recording task failed", failure=failure)

    # -- what MediaMTX is told -------------------------------------------

    def path_fields(self, camera_id: str) -> dict:
        """The recording fields of ``camera_id``'s MediaMTX path: on, into
        its session's folder, while it records; off otherwise. MediaMTX
        changes all of them on a live path without closing it."""
        session = self._active.get(camera_id)
        if session is None:
            return record_fields(None)
        return record_fields(self.parts_dir(session), self.config.part_duration, self.config.segment_duration)

    # -- status ----------------------------------------------------------

    def status(self, camera_id: str) -> Optional[dict]:
        """The camera's recording now, or ``None`` if it is not recording."""
        session = self._active.get(camera_id)
        if session is None or session.state != SessionState.RECORDING:
            return None
        return self._status(session)

    def _status(self, session: RecordingSession) -> dict:
        now = self._clock.seconds()
        return {
            "device": session.camera_id,
            "filename": session.filename,
            "status": "RECORDING",
            "start_time": iso_timestamp(session.start_time),
            "format": session.format,
            "duration": round(session.duration(now), 3),
            "stops_at": iso_timestamp(session.planned_stop),
            "resumed": session.resumed,
        }

    def recording(self) -> dict[str, dict]:
        """Every camera recording now, by id."""
        return {c: self._status(s) for c, s in sorted(self._active.items()) if s.state == SessionState.RECORDING}

    def metrics(self) -> dict:
        """``get_metrics.recording_metrics``."""
        recording = self.recording()
        return {
            "active_recordings": len(recording),
            "recordings": recording,
            "finalizing": len(self._finalizing),
            "finalized": self.finalized,
            "failed": self.failed,
            "recovered": list(self.recovered),
        }

    # -- start -----------------------------------------------------------

    def _lock(self, camera_id: str) -> defer.DeferredLock:
        lock = self._locks.get(camera_id)
        if lock is None:
            lock = self._locks[camera_id] = defer.DeferredLock()
        return lock

    @async_to_deferred
    async def start(self, camera_id: str, duration: Optional[int] = None, fmt: Optional[str] = None) -> dict:
        """Start recording ``camera_id``.

        :param duration: seconds after which it stops by itself (capped
            at, and by default, ``media.max_recording_duration``).
        :param fmt: ``fmp4``, ``mp4`` or ``mkv`` (default
            ``media.recording_format``).
        :returns: a Deferred firing, once the source is live and MediaMTX
            records, with ``{device, filename, status: RECORDING,
            start_time, format, ...}``.
        :raises AlreadyRecording: the camera records already.
        :raises StorageCritical: the media disk is too full.
        :raises UnknownCamera, NotStreamable, CameraNotConnected,
            SourceDidNotStart, MediaMTXError: as the stream manager does;
            nothing is left recording then.
        """
        fmt = fmt or self.config.recording_format
        if fmt not in FORMATS:
            raise ValueError(f"unknown recording format {fmt!r}")
        async with locked(self._lock(camera_id)):
            current = self._active.get(camera_id)
            if current is not None:
                raise AlreadyRecording(camera_id, current.filename)
            if self._storage_critical is not None:
                raise StorageCritical(self._storage_critical)
            self._streams.streamable(camera_id)
            if self.storage is not None:
                await self.storage.check_writable()
            now = self._clock.seconds()
            limit = min(duration or self.config.max_recording_duration, self.config.max_recording_duration)
            session_id = self._new_id()
            taken = {s.filename for s in (*self._active.values(), *self._finalizing.values())}
            parts = self.recordings_dir / ".parts" / session_id
            try:
                filename = await self._run_blocking(finalize.prepare_session, self.recordings_dir, parts, camera_id, now, fmt, taken)
            except OSError as e:
                if _disk_full(e):
                    raise StorageCritical(f"cannot make the recording's folder: {e.strerror}") from e
                raise
            session = RecordingSession(session_id, camera_id, filename, fmt, created=now, start_time=now,
                                       planned_stop=now + limit)
            self._active[camera_id] = session
            try:
                try:
                    await self._persist(strict=True)
                except OSError as e:
                    if _disk_full(e):
                        raise StorageCritical(f"cannot write the recording sessions file: {e.strerror}") from e
                    raise
                await self._apply_paths()  # recording on: MediaMTX records once the source is live
                await self._streams.keep_running(camera_id, HOLD)
            except BaseException:
                self._active.pop(camera_id, None)
                await self._undo_start(session)
                raise
            began = self._clock.seconds()
            session = session.evolve(state=SessionState.RECORDING, start_time=began, planned_stop=began + limit)
            self._active[camera_id] = session
            await self._persist()
            self._arm_timer(session)
            self._count_active()
        self.log.info("{camera_id} recording to {filename} ({recording_format}, at most {limit} s)",
                      camera_id=camera_id, filename=filename, recording_format=fmt, limit=limit)
        self._publish("recording.start", session, "STARTED")
        return self._status(session)

    async def _undo_start(self, session: RecordingSession) -> None:
        """Take back a start that failed half-way."""
        try:
            await self._apply_paths()
        except MediaMTXError as e:
            self.log.warn("recording of {camera_id} not yet turned off in MediaMTX: {detail}",
                          camera_id=session.camera_id, detail=e.detail)
        await self._streams.let_go(session.camera_id, HOLD)
        await self._run_blocking(finalize.remove_parts, self.parts_dir(session))
        await self._persist()

    # -- stop ------------------------------------------------------------

    @async_to_deferred
    async def stop(self, camera_id: str, reason: str = REQUESTED) -> dict:
        """Stop recording ``camera_id`` and finalize its file.

        :returns: a Deferred firing once the file is in place with
            ``{device, filename, status: STOPPED, start_time, end_time,
            duration, file_size, format}`` (``duration`` in seconds).
        :raises NotRecording: the camera does not record.
        :raises CaptureFailed: the file could not be made (the segments
            are kept, and finalizing is tried again when the storage is
            no longer critical, and at the next start).
        """
        async with locked(self._lock(camera_id)):
            session = self._active.get(camera_id)
            if session is None or session.state != SessionState.RECORDING:
                raise NotRecording(camera_id)
            session = await self._end(session, reason)
        return await self._finalize(session)

    async def _stop_quietly(self, camera_id: str, reason: str) -> None:
        try:
            await self.stop(camera_id, reason)
        except NotRecording:
            pass
        except CaptureFailed:
            pass  # published as recording.error

    async def _end(self, session: RecordingSession, reason: str) -> RecordingSession:
        """Recording off for ``session`` (under the camera's lock)."""
        camera_id = session.camera_id
        self._cancel_timer(camera_id)
        end = min(self._clock.seconds(), session.planned_stop)
        session = session.evolve(state=SessionState.FINALIZING, end_time=end, stop_reason=reason)
        del self._active[camera_id]
        self._finalizing[session.session_id] = session
        self._count_active()
        await self._persist()
        try:
            await self._apply_paths()
        except MediaMTXError as e:
            # MediaMTX is not recording anything it cannot be reached for;
            # the next reconciliation turns it off when it is back
            self.log.warn("recording of {camera_id} not turned off in MediaMTX: {detail}",
                          camera_id=camera_id, detail=e.detail)
        await self._streams.let_go(camera_id, HOLD)
        return session

    async def _finalize(self, session: RecordingSession, wait_close: bool = True) -> dict:
        """Make the file of a stopped session and tell everyone.

        :param wait_close: wait for MediaMTX to close the open segment
            (not for a session left by a previous run: the MediaMTX that
            wrote it is gone).
        """
        parts = self.parts_dir(session)
        final = self.recordings_dir / session.filename
        started = self._clock.seconds()
        try:
            if wait_close and self._mediamtx_up():
                await self._wait_segment_closed(parts)
            size = await self._make_file(session, parts, final)
        except (_NoVideo, ProcessFailed, OSError) as e:
            detail = "no video was recorded" if isinstance(e, _NoVideo) else f"cannot finalize: {e}"
            self.failed += 1
            self._count("failed")
            if isinstance(e, _NoVideo):
                self._finalizing.pop(session.session_id, None)
                await self._run_blocking(finalize.remove_parts, parts)
                await self._persist()
            else:
                self._unfinished.add(session.session_id)  # tried again when the disk recovers
            self.log.error("recording {filename} of {camera_id} failed: {detail}",
                           filename=session.filename, camera_id=session.camera_id, detail=detail)
            self._publish("recording.error", session, "FAILED", reason=session.stop_reason, detail=detail)
            raise CaptureFailed(session.camera_id, detail)
        self._finalizing.pop(session.session_id, None)
        await self._persist()
        self.finalized += 1
        took = self._clock.seconds() - started
        self._count("stopped", took)
        self.log.info("{filename} finalized ({size} bytes, {seconds:.3f} s to join)",
                      filename=session.filename, size=size, seconds=took,
                      camera_id=session.camera_id)
        if self.files is not None:
            try:
                await self.files.added(kind="recordings", name=session.filename, camera_id=session.camera_id)
            except Exception:
                self.log.failure("the file index was not told of {filename}", filename=session.filename)
        result = {
            "device": session.camera_id,
            "filename": session.filename,
            "status": "STOPPED",
            "start_time": iso_timestamp(session.start_time),
            "end_time": iso_timestamp(session.end_time),
            "duration": round(session.duration(session.end_time), 3),
            "file_size": size,
            "format": session.format,
        }
        self._publish("recording.stop", session, "STOPPED", reason=session.stop_reason, file_size=size,
                      end_time=result["end_time"])
        return result

    async def _wait_segment_closed(self, parts: Path) -> None:
        """Wait (at most :data:`SEGMENT_CLOSE_WAIT` s) for MediaMTX to close
        the newest segment once recording is off."""
        deadline = self._clock.seconds() + SEGMENT_CLOSE_WAIT
        while True:
            segments = await self._run_blocking(finalize.list_segments, parts)
            if not segments or await self._run_blocking(finalize.segment_closed, segments[-1]):
                return
            if self._clock.seconds() >= deadline:
                self.log.warn("MediaMTX did not close {segment} in time: joining it as it is",
                              segment=str(segments[-1]))
                return
            await task.deferLater(self._clock, 0.05, lambda: None)

    async def _make_file(self, session: RecordingSession, parts: Path, final: Path) -> int:
        if await self._run_blocking(final.exists):
            # made before camservice died, the segments not yet removed
            size = (await self._run_blocking(final.stat)).st_size
        else:
            segments = await self._run_blocking(finalize.list_segments, parts)
            if not segments:
                raise _NoVideo()
            temporary = self.recordings_dir / finalize.temporary_name(session.filename)
            script = parts / ".segments.ffconcat"
            await self._run_blocking(script.write_text, finalize.concat_list(segments))
            seconds = session.duration(session.end_time or self._clock.seconds())
            try:
                await run_checked(self._clock, finalize.ffmpeg_argv(self._ffmpeg, script, temporary, session.format),
                                  timeout=30 + seconds / 10)
                size = await self._run_blocking(finalize.publish_file, temporary, final)
            except BaseException:
                await self._run_blocking(finalize.remove_file, temporary)
                raise
        await self._run_blocking(finalize.remove_parts, parts)
        return size

    def _count(self, outcome: str, seconds: Optional[float] = None) -> None:
        if self._metrics is not None:
            self._metrics.recordings_finished.labels(outcome).inc()
            if seconds is not None:
                self._metrics.recording_finalize_seconds.observe(seconds)

    def _count_active(self) -> None:
        if self._metrics is not None:
            self._metrics.recordings_active.set(
                sum(1 for s in self._active.values() if s.state == SessionState.RECORDING))

    # -- timers and events -----------------------------------------------

    def _arm_timer(self, session: RecordingSession) -> None:
        self._cancel_timer(session.camera_id)
        delay = max(0.0, session.planned_stop - self._clock.seconds())
        self._timers[session.camera_id] = self._clock.callLater(delay, self._time_up, session)

    def _cancel_timer(self, camera_id: str) -> None:
        timer = self._timers.pop(camera_id, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _time_up(self, session: RecordingSession) -> None:
        self._timers.pop(session.camera_id, None)
        if self._is_active(session):
            self._background(self._stop_quietly(session.camera_id, DURATION_REACHED))

    def _on_event(self, event: Event) -> None:
        if event.topic == "camera.disconnected" and event.device in self._active:
            self._background(self._stop_quietly(event.device, CAMERA_DISCONNECTED))
        elif event.topic == "system.health" and (event.data or {}).get("component") == "storage":
            if event.data.get("status") == "critical":
                self._storage_critical = str(event.data.get("detail") or "the media disk is full")
                for camera_id in list(self._active):
                    self._background(self._stop_quietly(camera_id, STORAGE_CRITICAL))
            else:
                was_critical, self._storage_critical = self._storage_critical, None
                if was_critical is not None:
                    self._retry_unfinished()

    def _retry_unfinished(self) -> None:
        """Finalize again the sessions whose file could not be made (a full
        disk, most often): the storage is fine again."""
        for session_id in sorted(self._unfinished):
            session = self._finalizing.get(session_id)
            if session is not None:
                self.log.info("finalizing {filename} again", filename=session.filename)
                self._background(self._finalize_quietly(session))
        self._unfinished.clear()

    def _publish(self, topic: str, session: RecordingSession, status: str, reason: Optional[str] = None,
                 **extra) -> None:
        data = {
            "status": status,
            "filename": session.filename,
            "duration": round(session.duration(self._clock.seconds()), 3),
            "format": session.format,
            "start_time": iso_timestamp(session.start_time),
        }
        if reason is not None:
            data["reason"] = reason
        data.update(extra)
        self._bus.publish(topic, session.camera_id, **data)

    # -- persistence and restarts ----------------------------------------

    async def _persist(self, strict: bool = False) -> None:
        """Write every unfinished session (one write at a time, each with
        the sessions as they are when it runs).

        :param strict: raise ``OSError`` if the file cannot be written
            (a start must not go on then); otherwise it is logged, and the
            file is brought up to date by the next write that succeeds.
        """
        async with locked(self._persist_lock):
            sessions = sorted([*self._active.values(), *self._finalizing.values()], key=lambda s: s.session_id)
            try:
                await self._run_blocking(save_sessions, self._state_file, sessions)
            except OSError as e:
                if strict:
                    raise
                self.log.error("cannot write the recording sessions to {path}: {reason}",
                               path=str(self._state_file), reason=e.strerror or str(e))

    @async_to_deferred
    async def _recover(self) -> None:
        try:
            found = await self._run_blocking(load_sessions, self._state_file)
        except (OSError, ValueError) as e:
            self.log.error("cannot read the recording sessions in {path}: {reason}; they are not recovered",
                           path=str(self._state_file), reason=str(e))
            return
        orphans = await self._run_blocking(finalize.remove_orphans, self.recordings_dir / ".parts",
                                           {s.session_id for s in found})
        if orphans:
            self.log.warn("removed segments of no recording session: {folders}", folders=", ".join(orphans))
        now = self._clock.seconds()
        resumed = []
        for session in found:
            if session.camera_id in self._active:
                decision = FINALIZE  # one recording per camera at a time
            else:
                decision = after_restart(session, now, self._can_stream(session.camera_id))
            if decision == RESUME:
                session = session.evolve(resumed=True)
                self._active[session.camera_id] = session
                resumed.append(session)
                self._note_recovered(session, "resumed")
            else:
                if session.end_time is None:
                    end = await self._run_blocking(finalize.last_write, self.parts_dir(session))
                    session = session.evolve(end_time=min(session.planned_stop, end or now))
                session = session.evolve(state=SessionState.FINALIZING,
                                         stop_reason=session.stop_reason or FINALIZED_AFTER_RESTART)
                self._finalizing[session.session_id] = session
                self._note_recovered(session, "finalized")
        if not found:
            return
        self._count_active()
        await self._persist()
        for session in resumed:
            self._arm_timer(session)
            self._background(self._hold_resumed(session))
        if resumed:
            self._background(self._apply_quietly())
        for session in list(self._finalizing.values()):
            self.log.info("{camera_id}: finalizing {filename}, left unfinished by a previous run",
                          camera_id=session.camera_id, filename=session.filename)
            self._background(self._finalize_quietly(session))

    def _note_recovered(self, session: RecordingSession, action: str) -> None:
        self.recovered.append({"device": session.camera_id, "filename": session.filename, "action": action,
                               "at": iso_timestamp(self._clock.seconds())})

    def _can_stream(self, camera_id: str) -> bool:
        try:
            self._streams.streamable(camera_id)
        except (UnknownCamera, NotStreamable, CameraNotConnected):
            return False
        return True

    async def _finalize_quietly(self, session: RecordingSession) -> None:
        try:
            await self._finalize(session, wait_close=False)
        except CaptureFailed:
            pass  # published as recording.error; the segments stay

    async def _apply_quietly(self) -> None:
        try:
            await self._apply_paths()
        except MediaMTXError as e:
            self.log.info("MediaMTX not told of resumed recordings yet ({detail}): it will be when it is up",
                          detail=e.detail)

    async def _hold_resumed(self, session: RecordingSession) -> None:
        """Hold a resumed session's stream, retrying while MediaMTX comes up."""
        camera_id = session.camera_id
        while self.running and self._is_active(session):
            try:
                await self._streams.keep_running(camera_id, HOLD)
                if not self._is_active(session):
                    # stopped while the hold was being taken
                    await self._streams.let_go(camera_id, HOLD)
                    return
                # announced once it records again: by then clients that
                # lost their connection in the crash may be back
                self.log.info("{camera_id}: recording {filename} resumed after a restart",
                              camera_id=camera_id, filename=session.filename)
                self._publish("recording.start", self._active[camera_id], "STARTED", reason=RESUMED_AFTER_RESTART)
                return
            except (MediaMTXError, SourceDidNotStart) as e:
                self.log.debug("{camera_id}: stream not held yet: {reason}", camera_id=camera_id, reason=str(e))
            except MediaError as e:
                self.log.warn("{camera_id}: resumed recording cannot go on: {reason}", camera_id=camera_id,
                              reason=str(e))
                await self._stop_quietly(camera_id, CAMERA_DISCONNECTED)
                return
            await task.deferLater(self._clock, RESUME_RETRY, lambda: None)

    def _is_active(self, session: RecordingSession) -> bool:
        current = self._active.get(session.camera_id)
        return current is not None and current.session_id == session.session_id


def _disk_full(error: OSError) -> bool:
    """Whether ``error`` says the disk (or the quota) is full: a start
    refused as storage critical, not a bug."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT)
