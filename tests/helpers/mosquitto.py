"""A real Mosquitto broker for tests, on a loopback port, with an
optional password file and ACL file; always stopped by the test.

    broker = mosquitto.start(free_port(), password_file=..., acl_file=...)
    try:
        ...  # broker.port, broker.publish(...), broker.restart()
    finally:
        broker.stop()

It runs as a plain child process (``subprocess``): starting and stopping
take milliseconds, so fixtures and tests may call them directly.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Union

__all__ = ["Mosquitto", "available", "publish_argv", "start", "write_config", "write_password_file"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def available() -> Optional[str]:
    """Why a broker cannot be started here, or ``None``."""
    for program in (MOSQUITTO, "mosquitto_pub", "mosquitto_passwd"):
        if not (os.path.isabs(program) and os.access(program, os.X_OK)) and shutil.which(program) is None:
            return f"{program} is not installed (Debian: mosquitto, mosquitto-clients)"
    return None


def write_password_file(path: Union[str, Path], users: dict[str, str]) -> Path:
    """A Mosquitto password file (``mosquitto_passwd``) for ``{user: password}``."""
    path = Path(path)
    path.write_text("")
    path.chmod(0o600)
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True,
                       capture_output=True, timeout=30)
    return path


def publish_argv(port: int, topic: str, payload: Union[str, bytes, None], retain: bool = True,
                 username: Optional[str] = None, password: Optional[str] = None, qos: int = 1) -> list[str]:
    """``mosquitto_pub`` arguments publishing ``payload`` (``None`` or
    empty: an empty message, which clears a retained topic)."""
    argv = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos)]
    if retain:
        argv.append("-r")
    if username is not None:
        argv += ["-u", username]
    if password is not None:
        argv += ["-P", password]
    if not payload:
        argv.append("-n")
    else:
        argv += ["-m", payload.decode("utf-8") if isinstance(payload, bytes) else payload]
    return argv


class Mosquitto:
    """A running broker. :meth:`stop` always; :meth:`restart` keeps the port and config."""

    def __init__(self, port: int, conf: Path, folder: Path, own_folder: bool):
        self.port = port
        self.conf = conf
        self.folder = folder
        self.log = folder / "mosquitto.log"
        self._own_folder = own_folder
        self.process: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    def _launch(self, timeout: float) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mosquitto is not listening on {self.port} after {timeout} s:\n{self.log_text()}")
                time.sleep(0.02)

    def log_text(self) -> str:
        try:
            return self.log.read_text("utf-8", "replace")
        except OSError:
            return ""

    def publish(self, topic: str, payload: Union[str, bytes, None], retain: bool = True,
                username: Optional[str] = None, password: Optional[str] = None, qos: int = 1) -> None:
        """Publish with ``mosquitto_pub`` (waits until the broker has it)."""
        subprocess.run(publish_argv(self.port, topic, payload, retain, username, password, qos), check=True,
                       capture_output=True, timeout=30)

    def kill(self) -> None:
        """SIGKILL, as a crash would (no clean shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        """TERM, then KILL after ``timeout`` seconds; reaped. Idempotent."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port and config."""
        self.stop()
        self._launch(timeout)

    def close(self) -> None:
        """:meth:`stop`, and remove the folder the broker was given if it made it."""
        self.stop()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_config(folder: Path, port: int, extra_conf_lines: Iterable[str] = (),
                 password_file: Union[str, Path, None] = None, acl_file: Union[str, Path, None] = None,
                 allow_anonymous: Optional[bool] = None) -> Path:
    """``folder/mosquitto.conf`` for a broker on 127.0.0.1:``port``, logging
    to stderr (unbuffered: a test reads its "running" line as it comes).

    Without ``password_file`` anonymous clients are allowed (unless
    ``allow_anonymous`` says otherwise: clients known by certificate);
    with it only its users. ``acl_file`` adds Mosquitto's ACL. ``extra_conf_lines`` go
    at the end of the config (e.g. ``persistence true``). The broker keeps
    no state on disk unless told to.
    """
    lines = [
        f"listener {port} 127.0.0.1",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        # as root, Mosquitto would switch to the "mosquitto" user, which
        # cannot read the test's files
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
    ]
    if allow_anonymous is None:
        allow_anonymous = password_file is None
    lines.append(f"allow_anonymous {'true' if allow_anonymous else 'false'}")
    if password_file is not None:
        lines.append(f"password_file {Path(password_file).resolve()}")
    if acl_file is not None:
        lines.append(f"acl_file {Path(acl_file).resolve()}")
    lines += list(extra_conf_lines)
    conf = Path(folder) / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start(port: int, extra_conf_lines: Iterable[str] = (), password_file: Union[str, Path, None] = None,
          acl_file: Union[str, Path, None] = None, folder: Union[str, Path, None] = None,
          timeout: float = 10.0) -> Mosquitto:
    """Start ``mosquitto -c <conf>`` (see :func:`write_config`); returns
    once the port accepts connections."""
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="mosquitto-")) if own else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    conf = write_config(folder, port, extra_conf_lines, password_file, acl_file)
    broker = Mosquitto(port, conf, folder, own)
    broker._launch(timeout)
    return broker
