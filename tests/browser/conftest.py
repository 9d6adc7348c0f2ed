"""Browser tests: Debian's Chromium, driven by Selenium through Debian's
chromedriver, and Debian's Firefox ESR, driven over WebDriver BiDi
(tests/helpers/firefox_bidi.py), against a real camservice (twistd, managed MediaMTX, virtual
cameras) on free loopback ports (tests/helpers/console_browser.py). One
service per test module; a module's ``MEDIAMTX`` dict changes its
MediaMTX settings, its ``SETTINGS`` dict other sections.

Screenshots of every test go to ``$CAMSERVICE_ARTIFACTS`` (default: a
folder under pytest's temporary directory). ``CAMSERVICE_SCREENSHOT=1``
makes the README's screenshot (docs/console.png) too.
``SKIP_BROWSER_TESTS=1`` skips them all.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FIREFOX = "/usr/bin/firefox-esr"

if os.environ.get("SKIP_BROWSER_TESTS"):
    collect_ignore_glob = ["test_*.py"]
elif not all(os.path.exists(p) for p in (CHROMIUM, CHROMEDRIVER, FIREFOX)):
    raise RuntimeError("the browser tests need Debian's chromium, chromium-driver and firefox-esr: "
                       "tools/bootstrap.sh installs them")

from helpers.console_browser import Browser, _start_service, _stop_service  # noqa: E402
from helpers.firefox_bidi import Firefox  # noqa: E402


@pytest.fixture(scope="module")
def service(request, tmp_path_factory):
    """The module's service; a module's ``MEDIAMTX`` dict overrides
    ``mediamtx`` settings, its ``SETTINGS`` dict (section: settings) others."""
    folder = tmp_path_factory.mktemp("camservice")
    service = _start_service(folder, getattr(request.module, "MEDIAMTX", {}), getattr(request.module, "SETTINGS", {}))
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


@pytest.fixture
def browser(request, artifacts, tmp_path):
    """A fresh headless Chromium (its own profile: an empty sessionStorage);
    a screenshot of the page is saved after the test, whatever the outcome,
    and no Chromium process outlives it."""
    size = getattr(request, "param", (1366, 900))
    driver = Browser(*size, tmp_path / "chromium-profile")
    try:
        yield driver
    finally:
        try:
            driver.save_screenshot(str(artifacts / f"{request.node.name}.png"))
        except Exception:
            pass
        driver.quit()


@pytest.fixture
def firefox(request, artifacts, tmp_path):
    """A fresh headless Firefox (its own profile); a screenshot after the
    test, whatever the outcome, and no Firefox process outlives it."""
    size = getattr(request, "param", (1366, 900))
    driver = Firefox(*size, tmp_path / "firefox-profile")
    try:
        yield driver
    finally:
        try:
            driver.save_screenshot(str(artifacts / f"{request.node.name}.png"))
        except Exception:
            pass
        driver.quit()
