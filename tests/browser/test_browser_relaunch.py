"""The browser tests' own safety net: a page that never loads is tried
again in a new browser (tests/helpers/console_browser.py ``Browser``),
and a page that never loads in any browser still fails the test."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By

from helpers.console_browser import Browser, open_console


@pytest.fixture
def silent_url():
    """A loopback port that takes connections and never answers on them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []

    def hold():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()
    for connection in held:
        connection.close()


@pytest.fixture
def first_load_hangs():
    """A page whose first request is never answered."""
    release = threading.Event()
    requests = []

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if len(requests) == 1:
                release.wait(60)
                return
            body = b"<!doctype html><p id=ready>ready</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    release.set()
    server.shutdown()
    server.server_close()


def test_a_page_that_hangs_is_loaded_in_a_new_browser(tmp_path, first_load_hangs):
    # the page-load timeout of the console tests: a fresh browser's first
    # page can take seconds on a busy machine
    browser = Browser(800, 600, tmp_path / "profile", timeout=30)
    try:
        open_console(browser, SimpleNamespace(url=first_load_hangs))
        assert browser.launches == 2
        assert browser.find_element(By.ID, "ready").text == "ready"
    finally:
        browser.quit()


def test_a_page_that_always_hangs_fails(tmp_path, silent_url):
    browser = Browser(800, 600, tmp_path / "profile", timeout=2)
    try:
        with pytest.raises(TimeoutException):
            open_console(browser, SimpleNamespace(url=silent_url), attempts=2)
        assert browser.launches == 2
    finally:
        browser.quit()
