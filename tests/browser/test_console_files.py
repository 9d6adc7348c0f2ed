"""The console's files and storage in Chromium against the real service:
a download is a plain link to a short-lived URL and arrives whole (and
the URL answers ranges), files come in pages, the storage card warns of
low space, an API key signs in, and HTTP and API failures are told in
plain words."""
from __future__ import annotations

import time
import urllib.request

from selenium.webdriver.common.by import By

from helpers.console_browser import (
    CAMERA, _Clock, _visible, allow_downloads, api_call, assert_no_console_errors, browser_errors, click, file_rows,
    show_files, sign_in, texts, wait_for_live_video, wait_until,
)

# every disk is "low" from 0.01 % used: the storage card's warning shows
SETTINGS = {"media": {"storage": {"warn_percent": 0.01}}}

_WATCH = """
window.__links = []; window.__fetched = [];
const click = HTMLAnchorElement.prototype.click;
HTMLAnchorElement.prototype.click = function () { window.__links.push(this.href); return click.call(this); };
const fetch = window.fetch;
window.fetch = function (url) { window.__fetched.push(String(url)); return fetch.apply(this, arguments); };
"""


def _record(browser, service, seconds: float) -> str:
    operator = service.token("operator")
    started = api_call(browser, "start_recording", {"device": CAMERA}, operator)
    assert "result" in started, started
    time.sleep(seconds)
    stopped = api_call(browser, "stop_recording", {"device": CAMERA}, operator)
    assert "result" in stopped, stopped
    return stopped["result"]["filename"]


def _last_error(browser) -> str:
    shown = texts(browser, ".toast.error")
    return shown[-1] if shown else ""


def test_a_download_is_a_plain_link_that_arrives_whole_and_answers_ranges(service, browser, tmp_path):
    sign_in(browser, service, "viewer")
    wait_for_live_video(browser)
    name = _record(browser, service, 2.5)
    show_files(browser, "recordings")
    wait_until(lambda: name in file_rows(browser), 15, "the recording listed")
    folder = tmp_path / "downloads"
    allow_downloads(browser, folder)
    browser.execute_script(_WATCH)
    click(browser, f'#files tr[data-filename="{name}"] [data-action="download"]')
    saved = folder / name
    original = (service.data_dir / "recordings" / name).read_bytes()
    wait_until(lambda: saved.exists() and not list(folder.glob("*.crdownload")) and saved.stat().st_size == len(original),
               20, "the download saved whole")
    assert saved.read_bytes() == original
    (link,) = browser.execute_script("return window.__links")
    credential = browser.execute_script("return sessionStorage.getItem('camservice.credential')")
    assert f"/files/recordings/{name}?token=ft1." in link and credential not in link
    # the browser fetched nothing of /files into memory: it streamed the link
    assert not [u for u in browser.execute_script("return window.__fetched") if "/files/" in u]
    # the same link answers ranges, without any other credential
    request = urllib.request.Request(link, headers={"Range": "bytes=10-109"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 10-109/{len(original)}"
        assert response.read() == original[10:110]
    assert_no_console_errors(browser)


def test_files_come_in_pages_newest_first(service, browser):
    sign_in(browser, service, "admin")
    wait_for_live_video(browser)
    admin = service.token("admin")
    for i in range(11):
        taken = api_call(browser, "take_snapshot", {"device": CAMERA, "filename": f"page-{i:02d}"}, admin)
        assert "result" in taken, taken
    total = api_call(browser, "list_snapshots", {"limit": 1}, admin)["result"]["total"]
    assert total >= 11
    show_files(browser, "snapshots")
    page_text = browser.find_element(By.ID, "page-text")
    wait_until(lambda: page_text.text == f"1–10 of {total}", 10, "the first page")
    first = file_rows(browser)
    assert len(first) == 10 and first[0] == "page-10.jpg" and first[:3] == ["page-10.jpg", "page-09.jpg", "page-08.jpg"]
    assert browser.find_element(By.ID, "prev").get_attribute("disabled")
    assert not browser.find_element(By.ID, "next").get_attribute("disabled")
    browser.find_element(By.ID, "next").click()
    wait_until(lambda: page_text.text == f"11–{min(20, total)} of {total}", 10, "the second page")
    second = file_rows(browser)
    assert second and not set(second) & set(first)
    assert "page-00.jpg" in second
    browser.find_element(By.ID, "prev").click()
    wait_until(lambda: page_text.text == f"1–10 of {total}", 10, "the first page again")
    assert file_rows(browser) == first
    assert_no_console_errors(browser)


def test_the_storage_card_warns_of_low_space(service, browser):
    sign_in(browser, service, "admin")
    warning = wait_until(lambda: _visible(browser, "storage-warning"), 15, "the low-space warning")
    assert warning.text.startswith("Disk space is low")
    assert "low" in browser.find_element(By.ID, "storage-bar").get_attribute("class").split()
    assert "used" in browser.find_element(By.ID, "storage-text").text
    assert_no_console_errors(browser)


def test_sign_in_with_an_api_key(service, browser):
    from camservice.auth.apikeys import ApiKeyStore
    from camservice.auth.roles import Role

    key, _entry = ApiKeyStore(service.data_dir / "api-keys.json", _Clock()).add(Role.operator, "console test")
    sign_in(browser, service, credential=key)
    wait_for_live_video(browser)
    assert "operator" in browser.find_element(By.ID, "who").text.lower()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, '[data-action="snapshot"]'), 10, "operator controls")
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-action="delete"]')
    assert browser.execute_script("return sessionStorage.getItem('camservice.credential')") == key
    assert_no_console_errors(browser)


def test_http_and_api_failures_are_told_in_plain_words(service, browser):
    sign_in(browser, service, "admin")
    wait_for_live_video(browser)
    # the snapshot's JPEG does not come: the server fails (a JSON body),
    # answers an HTML page, or cannot be reached
    for status, body, kind, expected in (
        (500, '{"error": "boom", "code": 500}', "application/json",
         "camservice failed while sending the snapshot (its log says why)."),
        (404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html",
         "The snapshot does not exist (any more)."),
        (None, "", "", "camservice could not be reached for the snapshot."),
    ):
        browser.execute_script(
            """const [status, body, kind] = arguments;
            const real = window.__realFetch || (window.__realFetch = window.fetch);
            window.fetch = (url, options) => !String(url).includes('/files/') ? real(url, options)
              : status === null ? Promise.reject(new TypeError('Failed to fetch'))
              : Promise.resolve(new Response(body, {status, headers: {'Content-Type': kind}}));""",
            status, body, kind)
        click(browser, '[data-action="snapshot"]:not([disabled])')
        wait_until(lambda: _last_error(browser) == expected, 20, f"the message for {status}: {_last_error(browser)!r}")
        shown = _last_error(browser)
        assert "{" not in shown and "<" not in shown and str(status) not in shown
        browser.execute_script("document.querySelectorAll('.toast').forEach(t => t.remove())")
    browser.execute_script("window.fetch = window.__realFetch")
    # a file deleted elsewhere while listed: its download is refused in words
    name = _record(browser, service, 1.5)
    show_files(browser, "recordings")
    wait_until(lambda: name in file_rows(browser), 15, "the recording listed")
    assert "result" in api_call(browser, "delete_recording", {"filename": name}, service.token("admin"))
    click(browser, f'#files tr[data-filename="{name}"] [data-action="download"]')
    wait_until(lambda: _last_error(browser), 10, "the refusal")
    assert _last_error(browser) == f"Not found: the recording “{name}” does not exist (any more)."
    assert [e for e in browser_errors(browser) if e["source"] != "network"] == []
