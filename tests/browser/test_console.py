"""The web console in Chromium against the real service, MediaMTX and a
virtual camera: sign in, live video, snapshot, recording, roles, MediaMTX
down and back, a phone-sized screen, and no errors in the browser console."""
from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from helpers.console_browser import (
    CAMERA, _visible, actions, open_console, assert_no_console_errors, browser_errors, click, file_rows, files_listed, show_files,
    sign_in, wait_for_live_video, wait_until,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_and_its_files_are_served_with_a_strict_policy(service):
    with urllib.request.urlopen(service.url) as response:
        page = response.read().decode()
        headers = response.headers
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    policy = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    media = set(directives["connect-src"].split()) - {"'self'", f"ws://127.0.0.1:{service.port}"}
    # the HLS and WebRTC origins of the stream URLs, nothing else
    assert len(media) == 2 and all(re.fullmatch(r"http://127\.0\.0\.1:\d+", o) for o in media)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert 'content="/ws"' in page
    for path, kind in [("app.js", "text/javascript"), ("style.css", "text/css"),
                       ("vendor/hls.min.js", "text/javascript"), ("vendor/hls.js-LICENSE.txt", "text/plain")]:
        with urllib.request.urlopen(f"{service.url}console/{path}") as response:
            assert response.headers["Content-Type"].startswith(kind), path
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["Content-Security-Policy"] == policy
    for missing in ("console/", "console/nothing.js", "console/.hidden", "nothing"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{service.url}{missing}")
        assert caught.value.code == 404, missing


def test_sign_in_shows_the_camera_with_live_video(service, browser):
    sign_in(browser, service)
    tile = browser.find_element(By.CSS_SELECTOR, f'.tile[data-device="{CAMERA}"]')
    assert "Test pattern" in tile.text and "connected" in tile.text.lower()
    assert wait_for_live_video(browser) == "WebRTC"
    assert browser.find_element(By.ID, "conn").text == "Connected"
    assert "admin" in browser.find_element(By.ID, "who").text.lower()
    # the credential is kept in this tab's sessionStorage only
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.execute_script("return sessionStorage.getItem('camservice.credential')")
    assert_no_console_errors(browser)


def test_a_bad_credential_is_refused_in_plain_words(service, browser):
    open_console(browser, service)
    wait_until(lambda: _visible(browser, "credential"), 15, "the sign-in form").send_keys("not-a-valid-key-" * 3)
    browser.find_element(By.ID, "signin-button").click()
    message = wait_until(lambda: _visible(browser, "signin-error"), 15, "the refusal")
    assert message.text.startswith("Sign-in failed")
    assert "{" not in message.text and "-32001" not in message.text
    assert browser.execute_script("return sessionStorage.length") == 0
    assert_no_console_errors(browser)


def test_a_snapshot_is_shown_at_once_and_listed(service, browser):
    sign_in(browser, service, "operator")
    wait_for_live_video(browser)
    click(browser, '[data-action="snapshot"]')
    image = wait_until(
        lambda: browser.execute_script(
            "const i = document.querySelector('.shot img'); return i && i.complete && i.naturalWidth;"),
        20, "the snapshot shown")
    assert image == 320
    show_files(browser, "snapshots")
    wait_until(lambda: any(n and n.startswith(CAMERA) and n.endswith(".jpg") for n in file_rows(browser)),
               10, "the snapshot in the list")
    assert_no_console_errors(browser)


def test_a_three_second_recording_is_in_the_list(service, browser):
    sign_in(browser, service, "operator")
    wait_for_live_video(browser)
    click(browser, '[data-action="record"]')
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, '[data-action="stop"]'), 20, "recording")
    indicator = browser.find_element(By.CSS_SELECTOR, f'.tile[data-device="{CAMERA}"] .rec')
    assert indicator.is_displayed() and indicator.text.startswith("REC 0:0")
    time.sleep(3)
    assert wait_until(lambda: indicator.text >= "REC 0:03", 5, "the elapsed time counting")
    click(browser, '[data-action="stop"]')
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, '[data-action="record"]'), 30, "the recording stopped")
    show_files(browser, "recordings")

    def recording():
        rows = [r for r in files_listed(browser) if r["filename"].startswith(CAMERA)]
        return rows and re.fullmatch(r"0:0[2-5]", rows[0]["duration"] or "") and rows[0]

    row = wait_until(recording, 15, "the recording in the list, with its duration")
    # an operator deletes nothing
    assert row["actions"] == ["download"]
    assert_no_console_errors(browser)


def test_a_viewer_sees_no_control_it_cannot_use(service, browser):
    sign_in(browser, service, "viewer")
    wait_for_live_video(browser)
    wait_until(lambda: file_rows(browser) or browser.find_element(By.ID, "no-files").is_displayed(), 10, "files")
    show_files(browser, "snapshots")
    wait_until(lambda: file_rows(browser), 10, "the snapshots of the earlier test")
    assert actions(browser) == {"download"}
    assert not browser.find_element(By.ID, "sessions-card").is_displayed()
    assert not browser.find_element(By.ID, "storage").is_displayed()
    assert_no_console_errors(browser)


def test_an_admin_downloads_and_deletes_files(service, browser):
    sign_in(browser, service, "admin")
    show_files(browser, "snapshots")
    name = wait_until(lambda: file_rows(browser), 10, "snapshots")[0]
    # /files takes the credential in a header too (the console's snapshot
    # fetch); the console's own downloads are links (test_console_files.py)
    size = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(arguments[0], {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('camservice.credential')}})
          .then(r => r.status === 200 ? r.blob().then(b => b.size) : r.text().then(t => r.status + " " + t)).then(done, e => done(String(e)));""",
        f"/files/snapshots/{name}",
    )
    assert isinstance(size, int) and size > 1000
    click(browser, f'#files tr[data-filename="{name}"] [data-action="download"]')
    click(browser, f'#files tr[data-filename="{name}"] [data-action="delete"]')
    browser.switch_to.alert.accept()
    wait_until(lambda: name not in file_rows(browser), 10, "the snapshot gone from the list")
    assert browser.find_element(By.ID, "storage").is_displayed()
    # far from full: no low-space warning (test_console_files.py has one)
    assert not browser.find_element(By.ID, "storage-warning").is_displayed()
    assert browser.find_element(By.ID, "sessions").text
    assert_no_console_errors(browser)


def test_mediamtx_down_shows_a_banner_until_it_is_back(service, browser):
    sign_in(browser, service, "admin")
    wait_for_live_video(browser)
    banner = browser.find_element(By.ID, "banner")
    assert not banner.is_displayed()
    (pid,) = service.children("mediamtx")
    os.kill(pid, signal.SIGKILL)
    # a MediaMTX that ran a while is restarted at once; one that dies again
    # right after its start waits restart_min_delay (4 s): down meanwhile
    (again,) = wait_until(lambda: [p for p in service.children("mediamtx") if p != pid], 10, "MediaMTX restarted")
    os.kill(again, signal.SIGKILL)
    try:
        wait_until(banner.is_displayed, 15, "the banner")
    except AssertionError:
        health = [line for line in service.log().splitlines() if "MediaMTX is" in line or "mediamtx" in line]
        raise AssertionError("no banner; the service said:\n" + "\n".join(health[-15:]))
    assert "MediaMTX" in banner.text and "read-only" in banner.text
    assert browser.find_element(By.ID, "health-mediamtx").text.split()[-1] in ("down", "recovering")
    # read-only: no snapshot or recording while it is down
    assert browser.execute_script(
        "const b = [...document.querySelectorAll('[data-action=snapshot], [data-action=record]')];"
        "return b.length > 0 && b.every(x => x.disabled);")
    browser.save_screenshot(str(service.data_dir.parent / "mediamtx-down.png"))
    wait_until(lambda: not banner.is_displayed(), 60, "the banner gone once MediaMTX is back")
    assert wait_for_live_video(browser, timeout=40)
    # what the browser logged while the media server was away: failed
    # requests to it at most, no script or policy errors
    for entry in browser_errors(browser):
        assert entry["source"] == "network", entry


@pytest.mark.parametrize("browser", [(390, 844)], indirect=True)
def test_it_fits_a_phone_screen(service, browser):
    sign_in(browser, service, "operator")
    wait_for_live_video(browser)
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
    tile = browser.find_element(By.CSS_SELECTOR, ".tile")
    assert tile.size["width"] >= 300
    assert_no_console_errors(browser)


@pytest.mark.skipif(not os.environ.get("CAMSERVICE_SCREENSHOT"), reason="CAMSERVICE_SCREENSHOT is not set")
@pytest.mark.parametrize("browser", [(1280, 960)], indirect=True)
def test_the_readme_screenshot(service, browser):
    """Writes docs/console.png: the console of an admin with files."""
    sign_in(browser, service, "admin")
    wait_for_live_video(browser)
    wait_until(lambda: browser.execute_script(
        "return [...document.querySelectorAll('video')].every(v => v.currentTime > 1)"), 30, "both cameras live")
    show_files(browser, "recordings")
    wait_until(lambda: file_rows(browser), 10, "the recordings of the earlier tests")
    time.sleep(1)
    browser.save_screenshot(str(ROOT / "docs" / "console.png"))
    assert_no_console_errors(browser)
