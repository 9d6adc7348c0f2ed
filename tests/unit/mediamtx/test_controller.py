"""The MediaMTX controller against the fake Control API on a Clock:
paths follow the camera table, drift is repaired, outages open the
breaker and recovery restores the paths before MediaMTX is reported up."""
from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.logger import globalLogPublisher

from camservice.cameras.model import Camera, CameraKind, CameraStatus
from camservice.cameras.registry import CameraRegistry
from camservice.config import load_config
from camservice.events import EventBus
from camservice.mediamtx.breaker import BreakerState
from camservice.mediamtx.controller import Health, MediaMTXController
from camservice.mediamtx.errors import CircuitOpen, MediaMTXRejected, MediaMTXUnavailable
from camservice.mediamtx.holders import HOLD_QUERY
from camservice.mediamtx.reconcile import PathChange
from camservice.mediamtx.sources import path_conf
from camservice.metrics import Metrics
from camservice.service import ComponentState
from fakes.mediamtx import FakeMediaMTX
from helpers.deferreds import fails_with, outcome

HEALTH = 5.0
RECONCILE = 60.0
THRESHOLD = 3
RESET = 12.0
CAMERAS = ("camera1000", "camera1001")


class World:
    """The controller, its collaborators and what it published."""

    def __init__(self, config, clock):
        self.config = config
        self.clock = clock
        self.fake = FakeMediaMTX(clock)
        self.bus = EventBus()
        self.events = []
        self.bus.subscribe(self.events.append)
        self.registry = CameraRegistry(config.cameras, self.bus, clock)
        self.controller = MediaMTXController(
            config.mediamtx, self.fake, self.registry, self.bus, Metrics(), clock, jitter=lambda: 0
        )

    def start(self):
        self.registry.startService()
        return outcome(self.controller.startService())

    def stop(self):
        if self.controller.running:
            outcome(self.controller.stopService())
        if self.registry.running:
            self.registry.stopService()

    def health_events(self):
        return [(e.data["previous"], e.data["status"]) for e in self.events if e.topic == "system.health"]

    def tick(self, n=1):
        """``n`` health-check intervals, one at a time (a LoopingCall runs
        once per advance, however far the clock jumps)."""
        for _ in range(n):
            self.clock.advance(HEALTH)

    def calls(self, name):
        return [c for c in self.fake.calls if c[0] == name]

    def desired(self, camera_id):
        return path_conf(self.registry.get(camera_id), self.config.mediamtx)

    def configured(self, camera_id):
        """The path configuration as MediaMTX holds it, restricted to the
        keys camservice sets."""
        conf = self.fake.configs[camera_id]
        return {k: conf[k] for k in self.desired(camera_id)}


@pytest.fixture
def make_world(write_config, clock):
    worlds = []

    def make(**mediamtx):
        settings = {
            "health_check_interval": HEALTH,
            "reconcile_interval": RECONCILE,
            "breaker_failure_threshold": THRESHOLD,
            "breaker_reset_timeout": RESET,
            "retry_attempts": 3,
            "retry_initial_delay": 0.5,
            "retry_max_delay": 2,
            "source_start_timeout": 10,
        }
        settings.update(mediamtx)
        config = load_config(write_config({
            "mediamtx": settings,
            "cameras": {"declared": [
                {"id": "camera1000", "kind": "virtual", "resolution": "320x240", "fps": 10},
                {"id": "camera1001", "kind": "network", "url": "rtsp://192.0.2.7:554/stream1"},
            ]},
        }))
        world = World(config, clock)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.stop()


@pytest.fixture
def world(make_world):
    world = make_world()
    world.start()
    return world


@pytest.fixture
def logged_failures():
    failures = []

    def observe(event):
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    yield failures
    globalLogPublisher.removeObserver(observe)


def virtual_camera(camera_id):
    return Camera(camera_id, CameraKind.VIRTUAL, "Pattern", CameraStatus.CONNECTED, "640x480", 15)


# -- start ----------------------------------------------------------------

def test_start_adds_a_path_per_camera_and_reports_up(make_world):
    world = make_world()
    world.start()
    assert set(world.fake.configs) == set(CAMERAS)
    for camera_id in CAMERAS:
        assert world.configured(camera_id) == world.desired(camera_id)
    assert world.controller.health is Health.UP
    assert world.controller.state is ComponentState.RUNNING
    assert world.controller.mediamtx_version == "v1.20.1"
    assert world.health_events() == [("unknown", "recovering"), ("recovering", "up")]
    up = [e for e in world.events if e.topic == "system.health"][-1]
    assert up.data["component"] == "mediamtx"
    assert up.data["breaker"] == "closed"
    # checked first, then listed, then the two paths added
    assert world.fake.calls == [("info",), ("list_path_configs",), ("add", "camera1000"), ("add", "camera1001")]


def test_start_removes_owned_leftovers_and_keeps_foreign_paths(make_world):
    world = make_world()
    world.fake.external_path("camera77")  # from an earlier run with another camera table
    for name in ("lobby", "camera_x", "mycamera1"):
        world.fake.external_path(name, {"source": "publisher", "runOnDemand": "someone else's"})
    world.start()
    assert set(world.fake.configs) == set(CAMERAS) | {"lobby", "camera_x", "mycamera1"}
    assert world.fake.configs["lobby"]["runOnDemand"] == "someone else's"
    assert ("delete", "camera77") in world.fake.calls


def test_a_managed_mediamtx_not_listening_yet_is_starting_not_down(make_world, log_events):
    warnings = log_events("camservice.mediamtx.controller")
    world = make_world()
    world.fake.down = True  # the child runs but does not listen yet
    world.start()
    assert world.controller.starting()
    assert world.controller.health is Health.UNKNOWN
    assert world.controller.state is ComponentState.STARTING
    assert world.controller.detail == "MediaMTX is starting"
    world.clock.pump([0.25] * 8)
    assert world.health_events() == []
    assert world.controller.breaker.failures == 0  # a starting child is no failure
    world.fake.down = False
    world.clock.advance(0.25)
    assert world.controller.health is Health.UP
    assert world.health_events() == [("unknown", "recovering"), ("recovering", "up")]
    assert not world.controller.starting()
    assert [e for e in warnings if e["log_level"].name in ("warn", "error", "critical")] == []
    starting = [e for e in warnings if e.get("log_format", "").startswith("MediaMTX is starting")]
    assert starting and all(e["log_level"].name == "debug" for e in starting)
    assert "connection refused" in starting[0]["detail"]


def test_a_managed_mediamtx_silent_past_its_grace_period_is_down(make_world, log_events):
    warnings = log_events("camservice.mediamtx.controller")
    world = make_world(start_grace_period=4)
    world.fake.down = True
    world.start()
    world.clock.pump([0.25] * 15)  # 3.75 s
    assert world.controller.health is Health.UNKNOWN
    world.clock.pump([0.25] * 2)
    assert world.controller.health is Health.DOWN
    assert world.controller.state is ComponentState.ERROR
    assert "connection refused" in world.controller.detail
    down = [e for e in warnings if e.get("health") == "down"]
    assert len(down) == 1 and down[0]["log_level"].name == "warn"


def test_a_child_that_keeps_dying_before_it_answers_is_down_after_one_grace_period(make_world):
    world = make_world(start_grace_period=4)
    world.fake.down = True
    world.start()
    for _ in range(5):  # restarted every second, never answering
        world.clock.pump([0.25] * 4)
        world.controller.mediamtx_started()
    assert world.controller.health is Health.DOWN
    assert not world.controller.starting()
    # once it answers, the next restart has a grace period of its own
    world.fake.down = False
    world.clock.pump([0.25] * 41)
    assert world.controller.health is Health.UP
    world.fake.down = True
    world.controller.mediamtx_started()
    assert world.controller.starting()


def test_a_failure_after_it_answered_is_one_even_within_the_grace_period(make_world):
    world = make_world(start_grace_period=600)
    world.start()
    assert world.controller.health is Health.UP
    world.fake.down = True
    world.tick(THRESHOLD)
    assert world.controller.breaker.state is BreakerState.OPEN
    assert world.controller.health is Health.DOWN


def test_start_while_mediamtx_is_down_reports_down_then_recovers(make_world):
    world = make_world(start_grace_period=0)  # an external MediaMTX has no grace period either
    world.fake.down = True
    world.start()
    assert world.controller.health is Health.DOWN
    assert world.controller.state is ComponentState.ERROR
    assert "connection refused" in world.controller.detail
    world.fake.down = False
    # at start MediaMTX is probed every 0.25 s, not once per interval
    world.clock.advance(0.249)
    assert world.fake.configs == {}
    world.clock.advance(0.002)
    assert world.controller.health is Health.UP
    assert world.controller.state is ComponentState.RUNNING
    assert set(world.fake.configs) == set(CAMERAS)


def test_after_the_start_probes_the_health_check_interval_takes_over(make_world):
    world = make_world()
    world.fake.down = True
    world.start()
    world.clock.pump([0.25] * 60)  # well past the start-up probing window
    world.fake.down = False
    calls = len(world.fake.calls)
    world.clock.advance(0.5)
    assert len(world.fake.calls) == calls  # no more quick probes
    # the breaker opened meanwhile: the first check after its reset
    # timeout is the probe that finds MediaMTX back
    world.clock.pump([HEALTH] * (int(RESET // HEALTH) + 1))
    assert world.controller.health is Health.UP


# -- the camera table -------------------------------------------------------

def test_a_camera_added_gets_a_path_and_a_camera_removed_loses_it(world):
    world.registry.add(virtual_camera("camera1002"))
    assert world.configured("camera1002") == world.desired("camera1002")
    world.registry.remove("camera1002")
    assert "camera1002" not in world.fake.configs
    assert world.calls("delete") == [("delete", "camera1002")]
    assert set(world.fake.configs) == set(CAMERAS)


def test_a_disconnected_camera_loses_its_path_and_gets_it_back(world):
    world.registry.update("camera1001", status=CameraStatus.DISCONNECTED)
    assert "camera1001" not in world.fake.configs
    world.registry.update("camera1001", status=CameraStatus.CONNECTED)
    assert "camera1001" in world.fake.configs


def test_a_connected_usb_camera_gets_a_path_and_one_in_error_none(world):
    usb = Camera("camera0", CameraKind.USB, "Webcam", CameraStatus.CONNECTED, "640x480", 30,
                 source="/dev/video0", input_format="MJPG")
    world.registry.add(usb)
    assert "/dev/video0" in world.fake.configs["camera0"]["runOnDemand"]
    world.registry.update("camera0", status=CameraStatus.ERROR, error="probe failed")
    assert "camera0" not in world.fake.configs
    assert set(world.fake.configs) == set(CAMERAS)


# -- drift --------------------------------------------------------------------

def test_a_path_deleted_behind_our_back_is_restored_by_the_next_periodic_run(world):
    world.fake.external_delete("camera1000")
    world.clock.advance(RECONCILE - 0.001)
    assert "camera1000" not in world.fake.configs
    world.clock.advance(0.002)
    assert world.configured("camera1000") == world.desired("camera1000")


def test_a_path_changed_behind_our_back_is_replaced(world):
    world.fake.configs["camera1000"]["runOnDemand"] = "ffmpeg -i rtsp://somewhere/else"
    world.fake.configs["camera1001"]["sourceOnDemand"] = False
    world.clock.advance(RECONCILE)
    assert world.configured("camera1000") == world.desired("camera1000")
    assert world.configured("camera1001") == world.desired("camera1001")
    assert world.calls("replace") == [("replace", "camera1000"), ("replace", "camera1001")]


def test_periodic_runs_leave_matching_paths_alone(world):
    world.fake.configs["camera1000"]["record"] = True  # a setting camservice does not manage
    world.clock.advance(RECONCILE)
    world.clock.advance(RECONCILE)
    assert len(world.calls("list_path_configs")) == 3
    assert world.calls("replace") == [] and world.calls("delete") == []
    assert world.fake.configs["camera1000"]["record"] is True


def test_foreign_paths_are_never_touched(world):
    for name in ("lobby", "camera_x", "mycamera1"):
        world.fake.external_path(name, {"source": "publisher", "runOnDemand": "someone else's"})
    world.registry.add(virtual_camera("camera1002"))
    world.clock.advance(RECONCILE)
    world.registry.remove("camera1002")
    for name in ("lobby", "camera_x", "mycamera1"):
        assert world.fake.configs[name]["runOnDemand"] == "someone else's"
        assert not [c for c in world.fake.calls if name in c]


# -- outage and recovery ------------------------------------------------------

def break_mediamtx(world):
    """MediaMTX stops answering; health checks run until the breaker opens.

    :returns: the time it opened.
    """
    world.fake.down = True
    world.tick(THRESHOLD)
    assert world.controller.breaker.state is BreakerState.OPEN
    return world.clock.seconds()


def test_failed_health_checks_open_the_breaker_after_the_threshold(world):
    world.fake.down = True
    world.tick(THRESHOLD - 1)
    assert world.controller.breaker.state is BreakerState.CLOSED
    assert world.controller.health is Health.UP  # one failure is not an outage
    assert world.health_events()[-1] == ("recovering", "up")
    world.tick()
    assert world.controller.breaker.state is BreakerState.OPEN
    assert world.controller.health is Health.DOWN
    assert world.controller.state is ComponentState.ERROR
    assert world.controller.error  # get_status shows why
    down = [e for e in world.events if e.topic == "system.health"][-1]
    assert down.data["status"] == "down"
    assert down.data["previous"] == "up"
    assert down.data["breaker"] == "open"
    assert down.data["detail"]
    assert len(world.calls("info")) == 1 + THRESHOLD


def test_while_open_calls_fail_fast_without_reaching_mediamtx(world):
    break_mediamtx(world)
    calls = len(world.fake.calls)
    fails_with(world.controller.path("camera1000"), CircuitOpen)
    fails_with(world.controller.all_paths(), CircuitOpen)
    fails_with(world.controller.reconcile(), CircuitOpen)
    assert len(world.fake.calls) == calls
    assert world.clock.getDelayedCalls()  # only the loops: no retries were scheduled
    assert len(world.clock.getDelayedCalls()) == 2


def test_recovery_probes_after_the_reset_timeout_and_restores_paths_before_up(world):
    opened = break_mediamtx(world)
    world.fake.restart()  # it came back empty
    world.fake.down = False
    seen_at_up = []
    world.bus.subscribe(
        lambda e: seen_at_up.append(set(world.fake.configs))
        if e.topic == "system.health" and e.data["status"] == "up" else None
    )
    infos = len(world.calls("info"))
    # health checks before the reset timeout are not let through
    world.tick(int(RESET // HEALTH))
    assert world.clock.seconds() < opened + RESET
    assert len(world.calls("info")) == infos
    assert world.controller.health is Health.DOWN
    assert world.fake.configs == {}
    world.tick()  # the first check after the reset timeout is the probe
    assert len(world.calls("info")) == infos + 1
    assert world.controller.breaker.state is BreakerState.CLOSED
    assert world.controller.health is Health.UP
    assert world.controller.state is ComponentState.RUNNING
    assert seen_at_up == [set(CAMERAS)]
    assert world.health_events()[-3:] == [("up", "down"), ("down", "recovering"), ("recovering", "up")]


def test_a_failed_probe_keeps_it_down_for_another_reset_timeout(world):
    break_mediamtx(world)
    world.tick(3)  # 15 s: the probe ran, and failed
    assert world.controller.breaker.state is BreakerState.OPEN
    assert world.controller.health is Health.DOWN
    infos = len(world.calls("info"))
    world.fake.down = False
    world.tick(2)  # 10 s < RESET since the failed probe
    assert len(world.calls("info")) == infos
    world.tick()
    assert world.controller.health is Health.UP


def test_a_camera_added_during_an_outage_gets_its_path_on_recovery(world):
    break_mediamtx(world)
    world.registry.add(virtual_camera("camera1002"))
    world.fake.down = False
    world.tick(3)
    assert world.controller.health is Health.UP
    assert world.configured("camera1002") == world.desired("camera1002")


def test_mediamtx_restarted_while_up_gets_its_paths_back(world):
    world.fake.restart()
    assert world.fake.configs == {}
    world.clock.advance(HEALTH - 0.001)
    assert world.fake.configs == {}
    world.clock.advance(0.002)
    assert set(world.fake.configs) == set(CAMERAS)
    assert world.controller.health is Health.UP
    assert world.health_events()[-2:] == [("up", "recovering"), ("recovering", "up")]


def test_mediamtx_started_probes_at_once(world):
    break_mediamtx(world)
    world.fake.restart()
    world.fake.down = False
    world.controller.mediamtx_started()
    # no clock advance: not the reset timeout, not the next health check
    assert world.controller.health is Health.UP
    assert world.controller.breaker.state is BreakerState.CLOSED
    assert set(world.fake.configs) == set(CAMERAS)


def test_mediamtx_started_while_up_restores_the_restarted_childs_paths(world):
    world.fake.restart()
    world.controller.mediamtx_started()
    assert set(world.fake.configs) == set(CAMERAS)
    assert world.controller.health is Health.UP
    assert world.health_events()[-2:] == [("up", "recovering"), ("recovering", "up")]


def test_mediamtx_started_keeps_probing_until_the_child_answers(world):
    break_mediamtx(world)
    world.controller.mediamtx_started()  # started, but not listening yet
    infos = len(world.calls("info"))
    world.clock.advance(0.25)
    world.clock.advance(0.25)
    assert len(world.calls("info")) == infos + 2  # well before the reset timeout
    world.fake.restart()
    world.fake.down = False
    world.clock.advance(0.25)
    assert world.controller.health is Health.UP
    assert set(world.fake.configs) == set(CAMERAS)
    infos = len(world.calls("info"))
    world.clock.advance(0.25)
    assert len(world.calls("info")) == infos  # done probing


def test_mediamtx_started_gives_up_probing_after_its_deadline(world):
    break_mediamtx(world)
    world.controller.mediamtx_started()
    for _ in range(int(10 / 0.25) + 4):
        world.clock.advance(0.25)
    infos = len(world.calls("info"))
    world.clock.advance(0.25)
    world.clock.advance(0.25)
    assert len(world.calls("info")) == infos
    assert world.controller.health is Health.DOWN


# -- keep-alive readers ---------------------------------------------------------

def session(path, state="read", query=HOLD_QUERY, **extra):
    """An RTSPSession as /v3/rtspsessions/list lists it (v1.20.1)."""
    return dict({"id": f"{path}-{state}-{query}", "created": "2026-01-01T00:00:00Z",
                 "remoteAddr": "127.0.0.1:50412", "state": state, "path": path, "query": query,
                 "transport": "TCP", "bytesReceived": 0, "bytesSent": 0}, **extra)


def test_keepalive_readers_counts_camservices_own_readers_of_the_path(world):
    sessions = [
        session("camera1000"),
        session("camera1000", id="second-hold"),
        session("camera1000", query=""),  # a viewer
        session("camera1000", query="camservice=hold&x=1"),  # not exactly ours
        session("camera1000", query="other=1"),
        session("camera1000", state="publish"),  # the source itself
        session("camera1000", state="idle"),  # not reading yet
        session("camera1001"),  # another camera's hold
        session("camera10000"),  # a name that merely starts alike
        {"id": "no-fields", "state": "read"},
    ]
    world.fake.rtsp_sessions = {s["id"]: s for s in sessions}
    assert outcome(world.controller.keepalive_readers("camera1000")) == 2
    assert outcome(world.controller.keepalive_readers("camera1001")) == 1
    assert outcome(world.controller.keepalive_readers("camera1002")) == 0
    assert world.calls("list_rtsp_sessions") == [("list_rtsp_sessions",)] * 3


def test_keepalive_readers_of_a_path_nobody_reads_is_zero(world):
    assert outcome(world.controller.keepalive_readers("camera1000")) == 0


def test_keepalive_readers_retries_then_fails_when_mediamtx_is_unreachable(world, clock):
    world.fake.down = True
    d = world.controller.keepalive_readers("camera1000")
    clock.advance(0.5 - 0.001)
    assert len(world.calls("list_rtsp_sessions")) == 1
    clock.advance(0.002)
    assert len(world.calls("list_rtsp_sessions")) == 2
    clock.advance(1.0)
    fails_with(d, MediaMTXUnavailable)
    assert len(world.calls("list_rtsp_sessions")) == 3


def test_keepalive_readers_fails_fast_while_the_breaker_is_open(world):
    break_mediamtx(world)
    calls = len(world.fake.calls)
    fails_with(world.controller.keepalive_readers("camera1000"), CircuitOpen)
    assert len(world.fake.calls) == calls


def test_the_controller_has_no_always_on_switch_any_more(world):
    # a path that must keep running is held open by a reader instead: a
    # changed path configuration makes MediaMTX v1.20.1 drop the viewers
    assert not hasattr(world.controller, "set_always_on")
    assert not hasattr(world.controller, "always_on")


# -- coalesced runs -----------------------------------------------------------

def test_requests_during_a_run_are_served_by_one_later_run(world):
    world.fake.external_delete("camera1000")
    world.fake.hold("add")
    first = world.controller.reconcile()
    assert world.fake.held  # the run is waiting for its add
    world.fake.external_delete("camera1001")  # after the first run listed the paths
    second = world.controller.reconcile()
    third = world.controller.reconcile()
    assert not (first.called or second.called or third.called)
    lists = len(world.calls("list_path_configs"))
    world.fake.release()
    assert outcome(first) == [PathChange("add", "camera1000", world.desired("camera1000"))]
    # one more run, begun after their requests, serves both
    assert len(world.calls("list_path_configs")) == lists + 1
    served = outcome(second)
    assert served == [PathChange("add", "camera1001", world.desired("camera1001"))]
    assert outcome(third) is served
    assert set(world.fake.configs) == set(CAMERAS)


def test_a_failed_run_fails_its_callers_and_the_next_run_still_happens(world):
    world.fake.hold("list_path_configs")
    first = world.controller.reconcile()
    second = world.controller.reconcile()
    world.fake.fail_next("list_path_configs", MediaMTXRejected("bad", 400))
    world.fake.external_delete("camera1000")
    world.fake.release()
    fails_with(first, MediaMTXRejected)
    assert outcome(second) == [PathChange("add", "camera1000", world.desired("camera1000"))]


# -- a path MediaMTX refuses --------------------------------------------------

def test_a_refused_path_puts_only_that_camera_in_error_and_the_others_are_applied(make_world):
    world = make_world()
    world.fake.refused["camera1000"] = "'rtsp://x/%zz' is not a valid URL"
    world.start()
    assert world.controller.health is Health.UP
    assert world.controller.state is ComponentState.RUNNING
    camera = world.registry.get("camera1000")
    assert camera.status is CameraStatus.ERROR
    assert camera.error.startswith("MediaMTX refused the camera's path: ")
    assert "is not a valid URL" in camera.error
    assert "camera1001" in world.fake.configs and "camera1000" not in world.fake.configs
    assert world.registry.get("camera1001").status is CameraStatus.CONNECTED


def test_a_refused_path_is_retried_quietly_and_the_camera_recovers_once_accepted(make_world, clock, log_events):
    world = make_world()
    world.fake.refused["camera1000"] = "not a valid URL"
    world.start()
    warnings = log_events("camservice.mediamtx.controller")
    changes_before = len([e for e in world.events if e.device == "camera1000"])
    for _ in range(3):
        outcome(world.controller.reconcile())
    assert len([c for c in world.fake.calls if c == ("add", "camera1000")]) >= 4  # tried every time
    assert len([e for e in world.events if e.device == "camera1000"]) == changes_before  # no event storm
    assert not [e for e in warnings if "refused" in e.get("log_format", "")]  # logged once, at first
    assert world.controller.health is Health.UP

    del world.fake.refused["camera1000"]
    changes = outcome(world.controller.reconcile())
    assert [(c.action, c.name) for c in changes] == [("add", "camera1000")]
    camera = world.registry.get("camera1000")
    assert camera.status is CameraStatus.CONNECTED and camera.error is None
    assert world.controller.refused == {}


def test_a_refusal_that_is_not_about_the_path_is_not_blamed_on_a_camera(make_world):
    world = make_world()
    world.start()
    world.fake.external_delete("camera1000")
    world.fake.fail_next("add", MediaMTXRejected("POST /v3/config/paths/add/camera1000: 401 authentication error", 401))
    fails_with(world.controller.reconcile(), MediaMTXRejected)
    assert world.registry.get("camera1000").status is CameraStatus.CONNECTED
    assert world.controller.refused == {}


def test_sources_publish_with_their_own_secret(make_world, write_config, clock):
    world = make_world()
    controller = MediaMTXController(
        world.config.mediamtx, world.fake, world.registry, world.bus, Metrics(), clock,
        publish_secret=lambda camera_id: "p1-secret-of-" + camera_id,
    )
    world.registry.startService()
    conf = controller.desired_paths()["camera1000"]
    import shlex

    assert shlex.split(conf["runOnDemand"])[-1].endswith("/camera1000?token=p1-secret-of-camera1000")
    assert "token" not in controller.desired_paths()["camera1001"]["source"]  # pulled, not published


# -- stop ---------------------------------------------------------------------

def test_stop_while_the_startup_reconciliation_never_answers(make_world, clock):
    world = make_world()
    world.fake.hold("list_path_configs")  # never released
    world.start()
    assert world.controller.health is Health.RECOVERING
    assert world.controller.state is ComponentState.STARTING
    assert outcome(world.controller.stopService()) is None
    assert world.controller.state is ComponentState.STOPPED
    assert clock.getDelayedCalls() == []


def test_stop_while_a_health_check_never_answers(world, clock, logged_failures):
    world.fake.hold("info")
    world.tick()
    assert world.fake.held
    assert outcome(world.controller.stopService()) is None
    assert world.controller.state is ComponentState.STOPPED
    assert clock.getDelayedCalls() == []
    assert logged_failures == []


def test_stop_while_a_run_waits_to_retry(world, clock):
    world.fake.down = True
    d = world.controller.reconcile()
    assert clock.getDelayedCalls()
    outcome(world.controller.stopService())
    fails_with(d, defer.CancelledError)
    assert clock.getDelayedCalls() == []
    calls = len(world.fake.calls)
    clock.advance(RECONCILE)
    assert len(world.fake.calls) == calls


def test_stop_while_probing_a_restarted_child(world, clock, logged_failures):
    break_mediamtx(world)
    world.controller.mediamtx_started()
    outcome(world.controller.stopService())
    assert clock.getDelayedCalls() == []
    assert logged_failures == []


def test_reconcile_after_stop_fails_without_calling(world):
    outcome(world.controller.stopService())
    calls = len(world.fake.calls)
    fails_with(world.controller.reconcile(), MediaMTXUnavailable)
    assert len(world.fake.calls) == calls


def test_stop_during_recovery_logs_no_failure(make_world, logged_failures, clock):
    world = make_world()
    world.fake.hold("list_path_configs")
    world.start()
    assert world.controller.health is Health.RECOVERING
    outcome(world.controller.stopService())
    assert logged_failures == []
    assert clock.getDelayedCalls() == []


def test_a_health_loop_that_dies_while_running_is_logged(world, logged_failures):
    # anything but a MediaMTX error is a bug: it must not vanish silently
    world.fake.fail_next("info", RuntimeError("unexpected"))
    world.tick()
    assert len(logged_failures) == 1
    assert logged_failures[0]["log_failure"].check(RuntimeError)
    assert logged_failures[0]["what"] == "health check"
    logged_failures.clear()


@pytest.mark.parametrize(
    "request_",
    [
        lambda c: c.path("camera1000"),
        lambda c: c.all_paths(),
        lambda c: c.keepalive_readers("camera1000"),
    ],
    ids=["path", "all_paths", "keepalive_readers"],
)
def test_stop_cancels_a_stream_request_waiting_to_retry(world, clock, request_, logged_failures):
    world.fake.down = True
    d = request_(world.controller)
    assert not d.called
    calls = len(world.fake.calls)
    assert outcome(world.controller.stopService()) is None
    fails_with(d, defer.CancelledError)
    assert clock.getDelayedCalls() == []
    clock.advance(RECONCILE)
    assert len(world.fake.calls) == calls
    assert logged_failures == []


@pytest.mark.parametrize("call", ["get_path", "list_rtsp_sessions", "list_paths"])
def test_stop_cancels_a_stream_request_mediamtx_never_answers(world, clock, call):
    world.fake.hold(call)
    d = {"get_path": lambda: world.controller.path("camera1000"),
         "list_rtsp_sessions": lambda: world.controller.keepalive_readers("camera1000"),
         "list_paths": world.controller.all_paths}[call]()
    assert world.fake.held
    assert outcome(world.controller.stopService()) is None
    fails_with(d, defer.CancelledError)
    assert clock.getDelayedCalls() == []


def test_stream_requests_after_stop_are_refused_without_calling_mediamtx(world):
    outcome(world.controller.stopService())
    calls = len(world.fake.calls)
    fails_with(world.controller.path("camera1000"), CircuitOpen)
    fails_with(world.controller.all_paths(), CircuitOpen)
    fails_with(world.controller.keepalive_readers("camera1000"), CircuitOpen)
    assert len(world.fake.calls) == calls



def test_health_details_never_show_url_credentials(make_world):
    """MediaMTX quotes source URLs in its errors; /health/mediamtx and
    system.health events show them redacted."""
    from camservice.mediamtx.errors import MediaMTXUnavailable

    world = make_world(start_grace_period=0)
    world.fake.fail_next("info", MediaMTXUnavailable("info: 500 source rtsp://cam:Secr3t@192.0.2.1/x failed"))
    world.start()
    assert world.controller.health is Health.DOWN
    world.clock.advance(0.251)
    assert world.controller.health is Health.UP
    texts = [world.controller.detail] + [e.data["detail"] for e in world.events if e.topic == "system.health"]
    assert any("rtsp://***@192.0.2.1/x" in t for t in texts)
    assert not any("Secr3t" in t for t in texts)


# -- an external MediaMTX that is not locked --------------------------------------

@pytest.mark.parametrize("anonymous", [True, False])
def test_an_external_mediamtx_answering_without_credentials_is_reported(make_world, log_events, anonymous):
    errors = log_events("camservice.mediamtx.controller")
    world = make_world(mode="external")
    world.fake.anonymous_api = anonymous
    world.start()
    assert world.controller.health is Health.UP
    unlocked = [e for e in errors if e.get("outcome") == "unlocked"]
    assert len(unlocked) == (1 if anonymous else 0)
    if anonymous:
        assert unlocked[0]["log_level"].name == "error" and unlocked[0]["url"] == world.config.mediamtx.api_url


def test_a_managed_mediamtx_is_not_asked(make_world):
    world = make_world()
    world.start()
    assert world.calls("answers_anonymously") == []


# -- reload ------------------------------------------------------------------------------

def _reloaded(world, write_config, **mediamtx):
    """``world``'s config with ``mediamtx`` keys changed."""
    import dataclasses

    return dataclasses.replace(world.config, mediamtx=dataclasses.replace(world.config.mediamtx, **mediamtx))


def test_a_reload_moving_the_rtsp_port_reconciles_the_paths_sources(world, write_config):
    world.tick()
    before = world.configured("camera1000")
    new = _reloaded(world, write_config, rtsp_port=18600, ffmpeg="/opt/ffmpeg")
    outcome(world.controller.reconfigService(new))
    world.config = new
    after = world.configured("camera1000")
    assert after != before
    assert "18600" in str(after) and "/opt/ffmpeg" in str(after)


def test_a_reload_moving_the_api_points_the_client_there(world, write_config):
    outcome(world.controller.reconfigService(_reloaded(world, write_config, api_port=19990)))
    assert world.fake.base_urls == ["http://127.0.0.1:19990"]
    outcome(world.controller.reconfigService(world.config))  # a rollback
    assert world.fake.base_urls[-1] == "http://127.0.0.1:9997"


def test_in_external_mode_mediamtxs_own_settings_are_refused_by_name(make_world, write_config):
    from camservice.config import ConfigError

    world = make_world(mode="external")
    new = _reloaded(world, write_config, rtsp_port=18600, log_level="debug", api_port=19990, encoder="libx264")
    with pytest.raises(ConfigError) as e:
        world.controller.checkConfig(new)
    lines = [str(p) for p in e.value.problems]
    assert [p.key for p in e.value.problems] == ["mediamtx.rtsp_port", "mediamtx.log_level"]
    assert all("external mode" in line and "restart camservice" in line for line in lines)
    # where camservice reaches it is camservice's own setting: accepted
    world.controller.checkConfig(_reloaded(world, write_config, api_port=19990, encoder="libx264"))


def test_path_extras_join_each_camera_path_and_a_change_is_reconciled(world):
    recording = {"camera1000": {"record": True, "recordPath": "/r/.parts/s1/%path_%s-%f"}}
    world.controller.path_extras = lambda camera_id: recording.get(camera_id, {"record": False})
    outcome(world.controller.reconcile())
    assert world.fake.configs["camera1000"]["record"] is True
    assert world.fake.configs["camera1000"]["recordPath"].startswith("/r/.parts/s1/")
    assert world.fake.configs["camera1001"]["record"] is False
    assert world.fake.configs["camera1000"]["runOnDemand"] == world.desired("camera1000")["runOnDemand"]
    del recording["camera1000"]
    outcome(world.controller.reconcile())
    assert world.fake.configs["camera1000"]["record"] is False
    calls = len(world.calls("replace"))
    world.clock.advance(RECONCILE)
    assert len(world.calls("replace")) == calls  # nothing drifts


def test_the_child_exiting_is_down_at_once_and_recovers_when_restarted(world):
    world.controller.mediamtx_exited("MediaMTX exited (status None, signal 9); restarting")
    # no clock advance: not at the next health check
    assert world.controller.health is Health.DOWN
    assert world.health_events()[-1] == ("up", "down")
    assert "signal 9" in world.controller.detail
    world.fake.restart()
    world.controller.mediamtx_started()
    assert world.controller.health is Health.UP
    assert set(world.fake.configs) == set(CAMERAS)
    assert world.health_events()[-2:] == [("down", "recovering"), ("recovering", "up")]


def test_the_child_exiting_after_stop_changes_nothing(world):
    outcome(world.controller.stopService())
    world.controller.mediamtx_exited("MediaMTX exited (status 0, signal None); restarting")
    assert world.controller.health is not Health.DOWN
