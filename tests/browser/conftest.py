"""Browser tests: Debian's Chromium, driven by Selenium through Debian's
chromedriver, against a real camservice (twistd, managed MediaMTX, a
virtual camera) on free loopback ports. One service per test module.

Screenshots of every test go to ``$CAMSERVICE_ARTIFACTS`` (default: a
folder under pytest's temporary directory). ``CAMSERVICE_SCREENSHOT=1``
makes the README's screenshot (docs/console.png) too.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from helpers.processes import TWISTD, free_ports

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CAMERA = "camera1000"
SECOND_CAMERA = "camera1001"
SECRET = "browser-test-secret-0123456789abcdefghijklmnopqrstuv"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("Debian's chromium and chromium-driver are not installed (tools/bootstrap.sh)",
                allow_module_level=True)
selenium = pytest.importorskip("selenium")
if os.environ.get("SKIP_BROWSER_TESTS"):
    pytest.skip("SKIP_BROWSER_TESTS is set", allow_module_level=True)


class _Clock:
    @staticmethod
    def seconds() -> float:
        return time.time()


@dataclass
class Service:
    """A camservice run by twistd in a child process."""

    process: subprocess.Popen
    port: int
    data_dir: Path
    log_path: Path
    config_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def token(self, role: str = "admin", user: str = "tester") -> str:
        from camservice.auth.roles import Role
        from camservice.auth.tokens import TokenAuthority

        return TokenAuthority(SECRET, _Clock()).issue(user, Role.parse(role), 3600, None)

    def health(self, name: str) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/{name}", timeout=3) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def children(self, name: str) -> list[int]:
        """Pids of this service's child processes called ``name``."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1: stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == self.process.pid and comm == name:
                pids.append(int(entry.name))
        return pids

    def restart(self) -> None:
        """Stop the service (SIGTERM) and start it again on the same
        configuration, port and data."""
        _stop_service(self)
        self.process = _spawn(self.config_path, self.log_path)
        _wait_ready(self)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)


def _start_service(folder: Path, mediamtx: dict = {}) -> Service:
    api_port, mediamtx_api, rtsp, hls, webrtc, udp, auth = free_ports(7)
    data_dir = folder / "data"
    document = {
        "data_dir": str(data_dir),
        "server": {"host": "127.0.0.1", "port": api_port, "shutdown_timeout": 3},
        "auth": {"jwt_secret": SECRET},
        "logging": {"level": "info", "format": "json"},
        "discovery": {"mode": "disabled"},  # hermetic: never the machine's own cameras
        "mediamtx": {
            "api_port": mediamtx_api, "rtsp_port": rtsp, "hls_port": hls, "webrtc_port": webrtc,
            "webrtc_udp_port": udp, "log_level": "warn", "health_check_interval": 0.5,
            # long enough for a killed MediaMTX to be seen down before it is back
            "restart_min_delay": 4,
            **mediamtx,
        },
        "cameras": {"declared": [
            {"id": CAMERA, "kind": "virtual", "name": "Test pattern", "resolution": "320x240", "fps": 10},
            {"id": SECOND_CAMERA, "kind": "virtual", "name": "Second test pattern", "resolution": "320x240",
             "fps": 10},
        ]},
        # signed stream URLs, as a deployment beyond loopback has them
        "streams": {"auth_port": auth, "signed_urls": True},
    }
    config = folder / "camservice.yaml"
    config.write_text(yaml.safe_dump(document))
    log_path = folder / "camservice.log"
    service = Service(_spawn(config, log_path), api_port, data_dir, log_path, config)
    _wait_ready(service)
    return service


def _spawn(config: Path, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSERVICE_")}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "camservice", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )


def _wait_ready(service: Service) -> None:
    def ready():
        if service.process.poll() is not None:
            raise AssertionError(f"camservice ended early:\n{service.log()[-4000:]}")
        try:
            return service.health("ready").get("status") == "ready"
        except OSError:
            return False

    wait_until(ready, 40, "camservice ready")


def _stop_service(service: Service) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(5)


@pytest.fixture(scope="module")
def service(request, tmp_path_factory):
    """The module's service; a module's ``MEDIAMTX`` dict overrides
    ``mediamtx`` settings."""
    folder = tmp_path_factory.mktemp("camservice")
    service = _start_service(folder, getattr(request.module, "MEDIAMTX", {}))
    try:
        yield service
    finally:
        _stop_service(service)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    chosen = os.environ.get("CAMSERVICE_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _chrome(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)


@pytest.fixture
def browser(request, artifacts):
    """A fresh headless Chromium (its own profile: an empty sessionStorage);
    a screenshot of the page is saved after the test, whatever the outcome."""
    size = getattr(request, "param", (1366, 900))
    driver = _chrome(*size)
    driver.set_script_timeout(30)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        try:
            driver.save_screenshot(str(artifacts / f"{request.node.name}.png"))
        except Exception:
            pass
        driver.quit()


def browser_errors(driver) -> list[dict]:
    """The browser console's errors since the last call (each log read
    empties it)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
