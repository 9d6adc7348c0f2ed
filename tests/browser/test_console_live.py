"""The console's live grid in Chromium against the real service: a camera
added while the page is open gets its tile without a reload (and loses
it when removed), and with WHEP blocked a tile falls back to HLS and
still plays."""
from __future__ import annotations

from selenium.webdriver.common.by import By

from helpers.processes import free_port
from helpers.console_browser import (
    CAMERA, api_call, attributes, browser_errors, sign_in, texts, wait_for_live_video, wait_until,
)

# network cameras on loopback are refused unless allowed (no probing of the
# host's own services through camservice)
SETTINGS = {"external_streams": {"allowed_targets": ["127.0.0.1"]}}


def _tiles(browser) -> list[str]:
    return attributes(browser, ".tile", "data-device")


def test_a_camera_added_while_the_page_is_open_appears_without_a_reload(service, browser):
    # a source on loopback where nothing listens: MediaMTX's pulls fail at once
    source = f"rtsp://127.0.0.1:{free_port()}/nothing"
    sign_in(browser, service, "viewer")
    before = _tiles(browser)
    assert "camera2000" not in before
    browser.execute_script("window.__sameDocument = true")
    added = api_call(browser, "add_external_stream",
                     {"stream_url": source, "stream_name": "Added while open"},
                     service.token("operator"))
    assert "result" in added, added
    device = added["result"]["device"]
    tile = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'.tile[data-device="{device}"]'), 15,
                      "the new camera's tile")[0]
    wait_until(lambda: "Added while open" in tile.text, 10, "its name on the tile")
    # the same document: no reload happened
    assert browser.execute_script("return window.__sameDocument") is True
    assert set(before) <= set(_tiles(browser))
    removed = api_call(browser, "remove_external_stream", {"stream_url": source},
                       service.token("operator"))
    assert "result" in removed, removed
    wait_until(lambda: device not in _tiles(browser), 15, "the removed camera's tile gone")
    assert browser.execute_script("return window.__sameDocument") is True
    # the unreachable stream's failed requests (the console tries a network
    # camera's stream: MediaMTX answers 400 without a source) at most
    for entry in browser_errors(browser):
        assert entry["source"] == "network" and f"/{device}/" in entry["message"], entry
    assert texts(browser, ".toast.error") == []


def test_with_whep_blocked_the_tile_falls_back_to_hls_and_plays(service, browser):
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/whep*"]})
    sign_in(browser, service, "viewer")
    assert wait_for_live_video(browser, timeout=60) == "HLS"
    tile = browser.find_element(By.CSS_SELECTOR, f'.tile[data-device="{CAMERA}"]')
    assert "connected" in tile.text.lower()
    # the blocked WHEP requests are the only complaints
    for entry in browser_errors(browser):
        assert entry["source"] == "network" and "whep" in entry["message"].lower(), entry
    assert texts(browser, ".toast.error") == []
