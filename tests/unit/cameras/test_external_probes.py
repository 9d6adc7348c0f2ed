"""Probing added streams with the real ffprobe runner on a fake process
reactor: the protocol whitelist, the concurrency limit, cancellation when
a stream is removed, and client-facing error text that tells nothing."""
from __future__ import annotations

import json

import pytest
from twisted.internet import defer

from camservice.cameras.external import ExternalStreams
from camservice.cameras.registry import CameraRegistry
from camservice.cameras.stream_probe import UNREACHABLE, ffprobe_argv
from camservice.config.model import CamerasConfig, ExternalStreamsConfig
from camservice.events import EventBus
from camservice.security.targets import TargetPolicy
from helpers.deferreds import has_no_result, outcome

GOOD = {"streams": [{"codec_name": "h264", "width": 640, "height": 480, "avg_frame_rate": "25/1"}]}


@pytest.fixture
def make(process_reactor, tmp_path):
    made = []

    def make(concurrency=2, allowed=()):
        config = ExternalStreamsConfig(candidates=(), scan_interval=0, probe_timeout=5, ffprobe="/usr/bin/ffprobe",
                                       allowed_targets=tuple(allowed), probe_concurrency=concurrency)
        registry = CameraRegistry(CamerasConfig(max_cameras=64, declared=()), EventBus(), process_reactor)
        registry.startService()
        policy = TargetPolicy(allowed, (8002, 9997), lambda host: defer.fail(OSError("unknown")))
        external = ExternalStreams(config, tmp_path / "external-streams.json", registry, process_reactor,
                                   run_blocking=lambda f, *a: defer.maybeDeferred(f, *a), policy=policy)
        external.startService()
        made.append(external)
        return external, registry

    yield make
    for external in made:
        outcome(external.stopService())


def _ffprobes(reactor):
    return [p for p in reactor.alive() if p.executable == "/usr/bin/ffprobe"]


@pytest.mark.parametrize("url, whitelist", [
    ("rtsp://192.0.2.1/x", "rtsp,rtp,tcp,udp"),
    ("rtsps://192.0.2.1/x", "rtsps,rtsp,rtp,tcp,udp,tls"),
    ("rtmp://192.0.2.1/x", "rtmp,tcp"),
    ("srt://192.0.2.1:8890", "srt,udp"),
    ("http://192.0.2.1/x.m3u8", "http,tcp,hls,crypto"),
    ("https://192.0.2.1/x.m3u8", "https,http,tcp,tls,hls,crypto"),
])
def test_ffprobe_gets_a_protocol_whitelist_for_the_scheme(url, whitelist):
    argv = ffprobe_argv(url, 5, "ffprobe")
    assert argv[argv.index("-protocol_whitelist") + 1] == whitelist
    assert argv[-2:] == ["--", url]  # never read as an option


def test_probe_failures_all_read_the_same_to_clients(make, process_reactor, log_events):
    events = log_events("camservice.cameras.external")
    external, registry = make()
    reasons = [b"rtsp://u:Secr3t@192.0.2.1/a: Connection refused\n", b"192.0.2.2: Invalid data found when processing input\n"]
    adds = []
    for i, reason in enumerate(reasons):
        adds.append(defer.ensureDeferred(external.add(f"rtsp://u:Secr3t@192.0.2.{i + 1}/a", f"cam{i}")))
        process = process_reactor.last()
        process.stderr(reason)
        process.exit(1)
    errors = [registry.get(outcome(d).id).error for d in adds]
    assert errors == [UNREACHABLE, UNREACHABLE]
    details = [e["detail"] for e in events if "detail" in e]
    assert details == ["rtsp://***@192.0.2.1/a: Connection refused", "192.0.2.2: Invalid data found when processing input"]
    assert not any("Secr3t" in json.dumps(e, default=str) for e in events)


def test_probes_run_a_few_at_a_time(make, process_reactor):
    external, registry = make(concurrency=2)
    adds = [defer.ensureDeferred(external.add(f"rtsp://192.0.2.{i}/x", f"cam{i}")) for i in range(1, 6)]
    assert len(_ffprobes(process_reactor)) == 2
    first = _ffprobes(process_reactor)[0]
    first.stdout(json.dumps(GOOD).encode())
    first.exit(0)
    assert len(_ffprobes(process_reactor)) == 2  # the next one started
    while _ffprobes(process_reactor):
        process = _ffprobes(process_reactor)[0]
        process.stdout(json.dumps(GOOD).encode())
        process.exit(0)
    assert len(process_reactor.spawned) == 5
    assert all(registry.get(outcome(d).id).resolution == "640x480" for d in adds)


def test_quick_add_remove_pairs_leave_no_probe_running(make, process_reactor):
    """20 add/remove pairs: each removal cancels its probe (waiting or
    running); no more than the limit ever run; all are gone after TERM."""
    external, registry = make(concurrency=2)
    peak = 0
    adds = []
    for i in range(20):
        url = f"rtsp://192.0.2.{i + 1}/x"
        adds.append(defer.ensureDeferred(external.add(url, f"cam{i}")))
        peak = max(peak, len([p for p in _ffprobes(process_reactor) if not p.signals]))
        outcome(defer.ensureDeferred(external.remove(url)))
    assert peak <= 2
    assert len(process_reactor.spawned) <= 20
    # cancelled probes were told to stop; they are gone once TERM took effect
    assert all(p.signals == ["TERM"] for p in process_reactor.spawned)
    process_reactor.advance(process_reactor.term_delay)
    assert _ffprobes(process_reactor) == []
    for d in adds:
        assert outcome(d).id.startswith("camera")  # the add answered; the stream was removed after it
    assert registry.cameras() == [] and external.streams() == []


def test_a_removal_cancels_a_probe_still_waiting_for_a_slot(make, process_reactor):
    external, registry = make(concurrency=1)
    first = defer.ensureDeferred(external.add("rtsp://192.0.2.1/x", "a"))
    second = defer.ensureDeferred(external.add("rtsp://192.0.2.2/x", "b"))
    assert len(process_reactor.spawned) == 1
    outcome(defer.ensureDeferred(external.remove("rtsp://192.0.2.2/x")))
    assert outcome(second).id == "camera2001"
    process = process_reactor.last()
    process.stdout(json.dumps(GOOD).encode())
    process.exit(0)
    assert outcome(first).id == "camera2000"
    assert len(process_reactor.spawned) == 1  # the removed stream was never probed


def test_stopping_cancels_every_probe(make, process_reactor):
    external, _ = make()
    d = defer.ensureDeferred(external.add("rtsp://192.0.2.1/x", "a"))
    assert has_no_result(d)
    outcome(external.stopService())
    assert process_reactor.last().signals == ["TERM"]
    process_reactor.advance(process_reactor.term_delay)
    assert _ffprobes(process_reactor) == []
    assert outcome(d).check(defer.CancelledError)  # not a removal: the add is cancelled too


def test_a_refused_target_never_reaches_ffprobe(make, process_reactor):
    from camservice.security.errors import TargetRefused

    external, registry = make()
    d = defer.ensureDeferred(external.add("rtsp://127.0.0.1:554/x", "local"))
    assert isinstance(outcome(d).value, TargetRefused)
    d = defer.ensureDeferred(external.add("rtsp://cam.invalid/x", "unresolvable"))
    assert isinstance(outcome(d).value, TargetRefused)
    assert process_reactor.spawned == [] and registry.cameras() == []


def test_a_reload_raises_the_probe_concurrency_for_the_probes_that_follow(make, process_reactor, write_config):
    import dataclasses

    from camservice.config import load_config

    external, registry = make(concurrency=1)
    first = [defer.ensureDeferred(external.add(f"rtsp://192.0.2.{i}/x", f"cam{i}")) for i in (1, 2)]
    assert len(_ffprobes(process_reactor)) == 1
    config = load_config(write_config({}))
    new = dataclasses.replace(config, external_streams=dataclasses.replace(
        external._config, probe_concurrency=3, resolve_timeout=1.5))
    outcome(external.reconfigService(new))
    later = [defer.ensureDeferred(external.add(f"rtsp://192.0.2.{i}/x", f"cam{i}")) for i in (3, 4, 5)]
    assert len(_ffprobes(process_reactor)) == 1 + 3  # the new limit; the queued one keeps the old
    while _ffprobes(process_reactor):
        process = _ffprobes(process_reactor)[0]
        process.stdout(json.dumps(GOOD).encode())
        process.exit(0)
    assert len(process_reactor.spawned) == 5
    assert all(outcome(d).id in registry for d in first + later)
    # the own ports follow the reloaded config
    assert config.mediamtx.rtsp_port in external._policy._own_ports
