"""For the browser tests: Debian's Firefox ESR, headless, driven over
WebDriver BiDi, the protocol Firefox speaks itself on
``--remote-debugging-port`` (no geckodriver, which Debian does not
package). The client is a WebSocket (websocket-client, which Selenium
depends on) with a reader thread: replies are matched to commands by id,
console entries are kept for :meth:`Firefox.errors`.

Only what the tests need: load a page, run a function in it, set the
viewport, take a screenshot, read the console's errors.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional

import websocket

from helpers.processes import free_port

FIREFOX = "/usr/bin/firefox-esr"

#: a quiet test profile: no first-run pages, updates or remote settings
#: (no traffic off the machine), media plays unasked. The OpenH264 plugin,
#: which Firefox downloads from Mozilla on first use (Debian does not
#: package it), stays off, so that a run with network access behaves as
#: one without: no H.264 over WebRTC, and the console plays HLS instead
PREFERENCES = {
    "app.update.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "media.autoplay.default": 0,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "http://127.0.0.1:9/",
    "media.gmp-gmpopenh264.enabled": False,
}


class BiDiError(Exception):
    """A command the browser refused: its error code and message."""


class Firefox:
    """A headless Firefox on a profile of its own, with one browsing
    context (its first tab). :meth:`quit` ends every process it started."""

    def __init__(self, width: int, height: int, profile: Path, *, timeout: float = 30):
        self.timeout = timeout
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFERENCES.items()))
        port = free_port()
        self._log = open(profile / "firefox.log", "wb")
        self.process = subprocess.Popen(
            [FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
             "--remote-debugging-port", str(port), "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._replies: dict[int, dict] = {}
        self._entries: list[dict] = []
        self._lock = threading.Condition()
        self._next_id = 0
        self._socket = self._connect(port)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.call("session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": False}}})
        self.call("session.subscribe", {"events": ["log.entryAdded"]})
        self.context = self.call("browsingContext.getTree", {})["contexts"][0]["context"]
        self.set_viewport(width, height)

    def _connect(self, port: int) -> websocket.WebSocket:
        deadline = time.monotonic() + self.timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"firefox exited with {self.process.returncode}")
            try:
                # Firefox refuses a handshake with an Origin header
                return websocket.create_connection(f"ws://127.0.0.1:{port}/session", timeout=5,
                                                   suppress_origin=True)
            except (OSError, websocket.WebSocketException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _read(self) -> None:
        self._socket.settimeout(None)
        while True:
            try:
                message = json.loads(self._socket.recv())
            except (OSError, ValueError, websocket.WebSocketException):
                with self._lock:
                    self._replies[-1] = {"type": "error", "error": "closed", "message": "the connection closed"}
                    self._lock.notify_all()
                return
            with self._lock:
                if "id" in message:
                    self._replies[message["id"]] = message
                elif message.get("method") == "log.entryAdded":
                    self._entries.append(message["params"])
                self._lock.notify_all()

    def call(self, method: str, params: dict, timeout: Optional[float] = None) -> dict:
        """Sends one command and waits for its result."""
        with self._lock:
            self._next_id += 1
            command_id = self._next_id
        self._socket.send(json.dumps({"id": command_id, "method": method, "params": params}))
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._lock:
            while command_id not in self._replies and -1 not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{method}: no answer in {timeout or self.timeout} s")
                self._lock.wait(left)
            reply = self._replies.pop(command_id, None) or self._replies[-1]
        if reply.get("type") == "error":
            raise BiDiError(f"{method}: {reply.get('error')}: {reply.get('message')}")
        return reply["result"]

    def open(self, url: str) -> None:
        """Navigates and returns once the document is parsed (the tests wait
        for what they look for themselves)."""
        self.call("browsingContext.navigate", {"context": self.context, "url": url, "wait": "interactive"})

    def run(self, function: str, *args) -> Any:
        """Calls the JavaScript ``function`` (a function expression) in the
        page with JSON ``args``; awaits a promise it returns; its result as
        JSON. An exception in the page is raised as :class:`BiDiError`."""
        result = self.call("script.callFunction", {
            # arguments and the result cross as JSON text: BiDi's own
            # serialization of remote values is not needed here
            "functionDeclaration": f"(...a) => Promise.resolve(({function})(...a.map(s => JSON.parse(s))))"
                                   ".then(r => JSON.stringify(r === undefined ? null : r))",
            "arguments": [{"type": "string", "value": json.dumps(a)} for a in args],
            "target": {"context": self.context},
            "awaitPromise": True,
        })
        if result["type"] == "exception":
            raise BiDiError(result["exceptionDetails"]["text"])
        return json.loads(result["result"]["value"])

    def set_viewport(self, width: int, height: int) -> None:
        self.call("browsingContext.setViewport",
                  {"context": self.context, "viewport": {"width": width, "height": height}})

    def save_screenshot(self, path: str) -> None:
        data = self.call("browsingContext.captureScreenshot", {"context": self.context})["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def errors(self) -> list[dict]:
        """The console's errors and the page's uncaught exceptions since the
        last call."""
        with self._lock:
            entries, self._entries = self._entries, []
        return [e for e in entries if e.get("level") == "error"]

    def quit(self) -> None:
        try:
            self.call("browser.close", {}, timeout=10)
        except Exception:
            pass
        try:
            self._socket.close()
        except Exception:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        try:  # and whatever content processes it left behind
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(5)
        self._log.close()
