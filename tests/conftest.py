"""Shared fixtures: clocks checked for leftovers, configs in temp folders,
and a real service on a free loopback port."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from twisted.internet.task import Clock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))



#: a realistic "now" for Clock-driven tests (POSIX seconds, 2023-11-14)
NOW = 1_700_000_000.0


def pytest_report_header(config):
    import autobahn
    import jwt
    import twisted
    from importlib.metadata import version

    from camservice.codec import CODEC

    return (
        f"camservice deps: twisted {twisted.__version__}, autobahn {autobahn.__version__}, "
        f"treq {version('treq')}, PyJWT {jwt.__version__}, jsonschema {version('jsonschema')}, "
        f"prometheus-client {version('prometheus-client')}, json codec {CODEC}"
    )


@pytest.fixture
def clock():
    """A ``Clock`` at :data:`NOW`; the test fails if it leaves calls pending."""
    c = Clock()
    c.advance(NOW)
    yield c
    pending = c.getDelayedCalls()
    assert not pending, f"delayed calls left on the clock: {pending}"


def _no_pending(r, what: str) -> None:
    pending = r.getDelayedCalls()
    assert not pending, f"delayed calls left on the {what}: {pending}"


@pytest.fixture
def memory_reactor():
    """A ``MemoryReactorClock`` at :data:`NOW` (listens and connects on
    paper only), checked for leftover calls."""
    from twisted.internet.testing import MemoryReactorClock

    r = MemoryReactorClock()
    r.advance(NOW)
    yield r
    _no_pending(r, "reactor")


@pytest.fixture
def process_reactor():
    """A fake process reactor at :data:`NOW` (children spawned on paper,
    see tests/fakes/process_reactor.py), checked for leftover calls."""
    from fakes.process_reactor import FakeProcessReactor

    r = FakeProcessReactor(NOW)
    yield r
    _no_pending(r, "fake reactor")


@pytest.fixture
def log_events():
    """``log_events(prefix)``: a list that fills with the events logged
    from now on whose namespace starts with ``prefix``."""
    from twisted.logger import globalLogPublisher

    observers = []

    def capture(prefix: str) -> list:
        events: list = []

        def observe(event):
            if event.get("log_namespace", "").startswith(prefix):
                events.append(event)

        globalLogPublisher.addObserver(observe)
        observers.append(observe)
        return events

    yield capture
    for observe in observers:
        globalLogPublisher.removeObserver(observe)


@pytest.fixture
def clean_env(monkeypatch):
    """No ``CAMSERVICE_*`` variables from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("CAMSERVICE_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def write_config(tmp_path, clean_env):
    """``write_config(dict) -> Path``: a config file whose data_dir is a
    fresh temp folder (unless the dict names one)."""

    def write(document: dict | None = None, name: str = "camservice.yaml") -> Path:
        document = dict(document or {})
        document.setdefault("data_dir", str(tmp_path / "data"))
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document))
        return path

    return write
