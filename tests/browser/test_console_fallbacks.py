"""The console when things are not at their best: WebRTC off (the video
comes over HLS, the vendored hls.js, signed URLs and all), and camservice
restarted under it (the console reconnects by itself and says so)."""
from __future__ import annotations

import re

from selenium.webdriver.common.by import By

from helpers.console_browser import (
    CAMERA, _spawn, _stop_service, _wait_ready, assert_no_console_errors, browser_errors, sign_in,
    texts, wait_for_live_video, wait_until,
)

MEDIAMTX = {"protocols": ["rtsp", "hls"]}


def test_without_webrtc_the_video_plays_over_hls(service, browser):
    sign_in(browser, service, "viewer")
    assert wait_for_live_video(browser, timeout=45) == "HLS"
    tile = browser.find_element(By.CSS_SELECTOR, f'.tile[data-device="{CAMERA}"]')
    assert "connected" in tile.text.lower()
    assert_no_console_errors(browser)


def test_the_console_reconnects_by_itself_after_a_restart(service, browser):
    sign_in(browser, service, "operator")
    wait_for_live_video(browser, timeout=45)
    pill = browser.find_element(By.ID, "conn")
    assert pill.text == "Connected"
    _stop_service(service)
    wait_until(lambda: pill.text.startswith("Connection lost · retrying in"), 20, "the console saying it is offline")
    browser.save_screenshot(str(service.data_dir.parent / "offline.png"))
    service.process = _spawn(service.config_path, service.log_path)
    _wait_ready(service)
    wait_until(lambda: pill.text == "Connected", 40, "the console connected again")
    # signed in again with the tab's credential, and the video back
    assert browser.find_element(By.ID, "app-view").is_displayed()
    wait_for_live_video(browser, timeout=45)
    # while camservice and its MediaMTX were away the browser reports failed
    # requests (the WebSocket, HLS playlists); no script or policy errors
    for entry in browser_errors(browser):
        assert entry["source"] == "network" or re.search(
            r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws' failed", entry["message"]), entry
    assert texts(browser, ".toast.error") == []
