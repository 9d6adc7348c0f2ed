"""For the browser tests (tests/browser): a real camservice run by twistd
(managed MediaMTX, virtual cameras) on free loopback ports, Debian's
Chromium driven through Debian's chromedriver, and what the tests do in
the console."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from selenium.webdriver.common.by import By

from helpers.processes import TWISTD, children_named, free_ports, service_env

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CAMERA = "camera1000"
SECOND_CAMERA = "camera1001"
SECRET = "browser-test-secret-0123456789abcdefghijklmnopqrstuv"

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
        return children_named(self.process.pid, name)

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


def _start_service(folder: Path, mediamtx: dict = {}, settings: dict = {}) -> Service:
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
    for section, values in settings.items():  # merged into a section, or a section of its own
        document[section] = {**document.get(section, {}), **values}
    config = folder / "camservice.yaml"
    config.write_text(yaml.safe_dump(document))
    log_path = folder / "camservice.log"
    service = Service(_spawn(config, log_path), api_port, data_dir, log_path, config)
    _wait_ready(service)
    return service


def _spawn(config: Path, log_path: Path) -> subprocess.Popen:
    # as the systemd unit runs it
    env = service_env(base={k: v for k, v in os.environ.items() if not k.startswith("CAMSERVICE_")})
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


def _chrome(width: int, height: int, profile: Path):
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
        # a profile folder of the test's, by which its processes are found
        # and ended even when chromedriver could not end them
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # a navigation returns once the document is parsed: the tests wait for
    # what they look for themselves, and a renderer slow to report "load"
    # on a busy machine does not fail the test
    options.page_load_strategy = "eager"
    return webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)


class Browser:
    """A headless Chromium that can be started again, on a new profile.

    A renderer that stops answering (seen on a loaded machine, before any
    request reached camservice) can take every window of its browser with
    it, and chromedriver then holds every command, however short its page
    load timeout. So ``open`` watches the load from outside and, when the
    page does not come, kills that browser and tries a new one. Every other
    attribute is the WebDriver's own."""

    def __init__(self, width: int, height: int, profile: Path, *, timeout: float = 30):
        self._size = (width, height)
        self._root = profile
        self._profile = profile / "launch-0"
        self._timeout = timeout
        self._driver = None
        self.launches = 0
        self.relaunch()

    def relaunch(self) -> None:
        self.quit(stuck=True)
        self.launches += 1
        # a profile of each launch's own: a killed browser's lock files
        # stay behind
        self._profile = self._root / f"launch-{self.launches}"
        driver = _chrome(*self._size, self._profile)
        driver.set_script_timeout(self._timeout)
        driver.set_page_load_timeout(self._timeout)
        self._driver = driver

    def open(self, url: str, attempts: int = 3) -> None:
        """Loads ``url``, in up to ``attempts`` browsers; the last one's
        failure is raised."""
        for attempt in range(attempts):
            failure = self._load(url)
            if failure is None:
                return
            if attempt == attempts - 1:
                raise failure
            self.relaunch()

    def _load(self, url: str) -> Optional[Exception]:
        """``driver.get(url)`` under a watchdog: None once loaded, or why
        not. Errors other than a load that does not end are raised."""
        from selenium.common.exceptions import TimeoutException
        from urllib3.exceptions import HTTPError

        outcome: list = []

        def load():
            try:
                self._driver.get(url)
                outcome.append(None)
            except BaseException as failure:  # handed to the test's thread
                outcome.append(failure)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        loader.join(self._timeout + 15)
        if loader.is_alive():
            # chromedriver's answer to the get, whatever it is, comes once
            # its browser is gone
            kill_browser(self._profile)
            loader.join(15)
            return TimeoutException(f"{url} did not load in {self._timeout + 15:.0f} s")
        failure = outcome[0] if outcome else None
        if failure is None or isinstance(failure, (TimeoutException, HTTPError)):
            return failure
        raise failure

    def quit(self, stuck: bool = False) -> None:
        """Ends the browser, its chromedriver and every process still on
        its profile; a ``stuck`` one is killed without being asked."""
        driver, self._driver = self._driver, None
        try:
            if driver is None:
                return
            if stuck:
                driver.service.process.kill()
                driver.service.process.wait(10)
            else:
                driver.quit()
        finally:
            kill_browser(self._profile)

    def __getattr__(self, name):
        if self._driver is None:
            raise AttributeError(name)
        return getattr(self._driver, name)


def kill_browser(profile: Path) -> None:
    """SIGKILL every Chromium process still running on ``profile`` (a
    renderer that stopped answering survives ``driver.quit()``)."""
    marker = f"--user-data-dir={profile}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def browser_errors(driver) -> list[dict]:
    """The browser console's errors since the last call (each log read
    empties it)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_console(driver, service, attempts: int = 3) -> None:
    """Loads the page (in a new browser when one does not answer: see
    ``Browser``). It comes first in a test, before any state of the
    test's lives in the browser."""
    if isinstance(driver, Browser):
        driver.open(service.url, attempts)
    else:
        driver.get(service.url)


def sign_in(driver, service, role="admin", credential=None):
    open_console(driver, service)
    field = wait_until(lambda: _visible(driver, "credential"), 15, "the sign-in form")
    field.send_keys(credential or service.token(role, user=f"{role}-user"))
    driver.find_element(By.ID, "signin-button").click()
    wait_until(lambda: _visible(driver, "app-view"), 15, "the console after sign-in")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, f'.tile[data-device="{CAMERA}"]'), 15, "the camera tile")


def _visible(driver, element_id):
    found = driver.find_elements(By.ID, element_id)
    return found[0] if found and found[0].is_displayed() else None


def video_time(driver) -> float:
    return driver.execute_script(
        "const v = document.querySelector(arguments[0]); return v ? v.currentTime : -1;",
        f'.tile[data-device="{CAMERA}"] video',
    )


def wait_for_live_video(driver, timeout=30.0) -> str:
    """Waits until the tile's video plays (its currentTime advances); the
    way it plays (WebRTC or HLS)."""
    first = wait_until(lambda: video_time(driver) > 0.5 and video_time(driver), timeout, "the video playing")
    wait_until(lambda: video_time(driver) > first + 1.0, 10, "the video's time advancing")
    return driver.find_element(By.CSS_SELECTOR, f'.tile[data-device="{CAMERA}"] .via').text


def attributes(driver, selector: str, name: str) -> list[str]:
    """One attribute of every element matching selector, read in one
    script: elements the page removes meanwhile (a tile, a toast timing
    out) cannot go stale between finding them and reading them."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.getAttribute(arguments[1]));",
        selector, name)


def texts(driver, selector: str) -> list[str]:
    """The rendered text of every element matching selector, read in one
    script (see attributes)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText.trim());", selector)


def actions(driver) -> set[str]:
    return set(attributes(driver, "[data-action]", "data-action"))


def assert_no_console_errors(driver):
    """Nothing in the browser console, and no error shown by the page."""
    assert browser_errors(driver) == []
    assert texts(driver, ".toast.error") == []


def files_listed(driver) -> list[dict]:
    """The rows of the files table: filename, duration text, actions."""
    return driver.execute_script(
        """return [...document.querySelectorAll('#files tr')].map(r => ({
            filename: r.dataset.filename,
            duration: (r.querySelector('.duration') || {}).textContent,
            actions: [...r.querySelectorAll('[data-action]')].map(b => b.dataset.action)}));""")


def file_rows(driver) -> list[str]:
    return [row["filename"] for row in files_listed(driver)]


def click(driver, selector):
    """Clicks what ``selector`` finds now (the page re-renders buttons)."""
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, selector), 20, selector)[0].click()


def show_files(driver, kind):
    driver.find_element(By.CSS_SELECTOR, f'.tab[data-kind="{kind}"]').click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, f'#files[data-kind="{kind}"]'), 10, f"the {kind} listed")


def allow_downloads(driver, folder: Path) -> None:
    """Downloads the page starts are saved into ``folder`` (headless
    Chromium refuses them otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def api_call(driver, method: str, params: dict, credential: str):
    """Calls the API over a WebSocket of its own from the page (not the
    console's connection); the reply object (``result`` or ``error``)."""
    return driver.execute_async_script(
        """const [method, params, credential, done] = arguments;
        const ws = new WebSocket(`ws://${location.host}/ws`);
        let step = 0;
        ws.onmessage = (event) => {
          const reply = JSON.parse(event.data);
          if (reply.id === 1) {
            if (reply.error) { ws.close(); done(reply); return; }
            ws.send(JSON.stringify({jsonrpc: "2.0", id: 2, method, params}));
          } else if (reply.id === 2) { ws.close(); done(reply); }
        };
        ws.onopen = () => ws.send(JSON.stringify(
          {jsonrpc: "2.0", id: 1, method: "authenticate", params: {auth_token: credential}}));
        ws.onerror = () => done({error: {code: "websocket"}});""",
        method, params, credential,
    )
