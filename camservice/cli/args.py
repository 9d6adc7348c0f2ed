"""camctl's command line (argparse): the subcommands, their arguments and
the connection options, which may come before or after the subcommand."""
from __future__ import annotations

import argparse
import re
import textwrap
from typing import Optional

from camservice import __version__
from camservice.cli import exits
from camservice.cli.target import DEFAULT_URL, ENV_API_KEY, ENV_CA_FILE, ENV_CERT, ENV_KEY, ENV_TOKEN, ENV_URL

__all__ = ["FORMATS", "PROTOCOLS", "TOPICS", "build_parser", "parse"]

#: the notification topics of the API (docs/api.rst, Notifications)
TOPICS = (
    "camera.connected", "camera.disconnected", "camera.status_change",
    "recording.start", "recording.stop", "recording.error",
    "snapshot.taken", "system.health", "system.startup", "system.shutdown", "system.config_changed",
)
FORMATS = ("fmp4", "mp4", "mkv")
PROTOCOLS = ("rtsp", "hls", "webrtc")
KINDS = ("recordings", "snapshots")

_CAMERA = re.compile(r"camera[0-9]+")

#: option dest -> its default, filled in after parsing (the options are
#: defined with SUPPRESS so that a value given before the subcommand is
#: not reset by the subcommand's copy of the option)
_COMMON_DEFAULTS = {"url": None, "token": None, "api_key": None, "ca_file": None, "cert": None, "key": None,
                    "timeout": 10.0, "json": False}


def camera_id(text: str) -> str:
    if not _CAMERA.fullmatch(text) or len(text) > 32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a camera id (cameraN, e.g. camera0)")
    return text


def _bounded(low: int, high: Optional[int], what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{what} must be {low}..{high}" if high else f"{what} must be at least {low}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def topic(text: str) -> str:
    # a type, not choices: argparse checks an empty nargs="*" list against choices
    if text not in TOPICS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a topic (choose from {', '.join(TOPICS)})")
    return text


def file_name(text: str) -> str:
    """A plain file name, as the API takes it (checked here too so the
    error comes before any connection)."""
    if not text or "/" in text or "\\" in text or text in (".", "..") or any(ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain file name (no folders, no control characters)")
    if len(text.encode("utf-8")) > 255:
        raise argparse.ArgumentTypeError("a file name has at most 255 bytes")
    return text


def _codes() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in exits.TABLE)


def _epilog() -> str:
    return (
        "environment:\n"
        f"  {ENV_URL:<15} the WebSocket URL (default {DEFAULT_URL})\n"
        f"  {ENV_TOKEN:<15} a JWT (camservice-admin token --role ROLE)\n"
        f"  {ENV_API_KEY:<15} an API key (camservice-admin keys add --role ROLE)\n"
        f"  {ENV_CA_FILE:<15} CA certificate(s), PEM, to trust for wss:// and https://\n"
        f"  {ENV_CERT:<15} a client certificate, PEM, with its key unless {ENV_KEY} names it\n"
        "  A flag wins over its variable. Prefer the variables for credentials:\n"
        "  command lines are visible to other users of the machine.\n\n" + _codes()
    )


def _common(fleet: bool = False) -> argparse.ArgumentParser:
    """The options every subcommand takes, for use as a parent parser."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("connection" if not fleet else "output")
    S = argparse.SUPPRESS
    if not fleet:
        g.add_argument("--url", default=S, metavar="URL", help=f"WebSocket URL, ws:// or wss:// (env {ENV_URL}; "
                       f"default {DEFAULT_URL})")
        g.add_argument("--token", default=S, metavar="JWT", help=f"authenticate with this JWT (env {ENV_TOKEN})")
        g.add_argument("--api-key", default=S, metavar="KEY", help=f"authenticate with this API key (env {ENV_API_KEY})")
        g.add_argument("--ca-file", default=S, metavar="FILE",
                       help=f"trust these CA certificates (PEM) for wss:// (env {ENV_CA_FILE}; default: the system's)")
        g.add_argument("--cert", default=S, metavar="FILE",
                       help=f"present this client certificate (PEM, with its key unless --key) for mTLS (env {ENV_CERT})")
        g.add_argument("--key", default=S, metavar="FILE", help=f"the client certificate's key, PEM (env {ENV_KEY})")
        g.add_argument("--timeout", default=S, type=_seconds, metavar="S",
                       help="seconds to connect and for each reply (default 10)")
    g.add_argument("--json", default=S, action="store_true", help="print one JSON document on stdout, for scripts")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    formatter = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="camctl",
        description="Drive camservice from the shell, through its WebSocket JSON-RPC API.",
        epilog=_epilog(),
        formatter_class=formatter,
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"camctl (camservice) {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: Optional[str] = None, parents=(common,), epilog=None):
        text = textwrap.fill(description or help[:1].upper() + help[1:] + ".", 79)
        return sub.add_parser(name, help=help, description=text, parents=list(parents), formatter_class=formatter,
                              epilog=epilog or _epilog())

    command("cameras", "list the cameras (get_camera_list)")
    s = command("status", "a camera's status, or the service's without CAMERA",
                "Show one camera (get_camera_status), or without CAMERA the service (get_system_status).")
    s.add_argument("camera", nargs="?", type=camera_id, metavar="CAMERA", help="camera id, e.g. camera0")

    s = command("snapshot", "take a snapshot and download its JPEG",
                "Take a snapshot (take_snapshot) and download the JPEG into FILE "
                "(default: the snapshot's name, in the current folder).")
    s.add_argument("camera", type=camera_id, metavar="CAMERA")
    s.add_argument("-o", "--output", metavar="FILE", help="where to save the JPEG")
    s.add_argument("--name", type=file_name, help="the snapshot's name on the server (default: camera and time)")
    s.add_argument("--force", action="store_true", help="replace FILE if it exists")

    s = command("record", "start recording a camera (start_recording)")
    s.add_argument("camera", type=camera_id, metavar="CAMERA")
    s.add_argument("--duration", type=_bounded(1, 86400, "--duration"), metavar="S",
                   help="stop by itself after S seconds (1..86400)")
    s.add_argument("--format", choices=FORMATS, help="container: fmp4 (default), mp4 or mkv")

    s = command("stop", "stop a camera's recording (stop_recording)")
    s.add_argument("camera", type=camera_id, metavar="CAMERA")

    s = command("files", "list recordings and snapshots, newest first",
                "List recordings and/or snapshots (list_recordings, list_snapshots), newest first.")
    s.add_argument("kind", nargs="?", choices=KINDS, help="only recordings or only snapshots (default: both)")
    s.add_argument("--limit", type=_bounded(1, 1000, "--limit"), default=50, help="files per kind (1..1000, default 50)")
    s.add_argument("--offset", type=_bounded(0, None, "--offset"), default=0, help="skip this many (default 0)")
    s.add_argument("--all", action="store_true", help="every file, fetched page by page")

    s = command("download", "download a recording or snapshot",
                "Download a file over HTTP(S) with a progress bar on a terminal. An interrupted download "
                "leaves FILE.part, and running the same command again resumes it (HTTP Range); FILE "
                "appears only once complete.")
    s.add_argument("name", type=file_name, metavar="NAME", help="the file's name, as listed by camctl files")
    s.add_argument("-o", "--output", metavar="FILE", help="where to save it (default: NAME in the current folder)")
    s.add_argument("--kind", choices=KINDS, help="recordings or snapshots (default: snapshots for .jpg/.jpeg)")
    s.add_argument("--force", action="store_true", help="replace FILE if it exists")

    s = command("delete", "delete a recording or snapshot (admin)")
    s.add_argument("name", type=file_name, metavar="NAME")
    s.add_argument("--kind", choices=KINDS, help="recordings or snapshots (default: snapshots for .jpg/.jpeg)")

    s = command("watch", "print events as they come, until Ctrl-C",
                "Subscribe to TOPICs (default: all) and print each notification as it comes, until Ctrl-C "
                "(exit 0) or the server closes the connection. With --json, one JSON object per line.")
    s.add_argument("topics", nargs="*", type=topic, metavar="TOPIC", help=f"one of: {', '.join(TOPICS)}")
    s.add_argument("--camera", type=camera_id, help="only events about this camera (and system events)")
    s.add_argument("--count", type=_bounded(1, None, "--count"), metavar="N", help="end after N events")

    s = command("stream-url", "a camera's stream URLs (RTSP, HLS, WebRTC)")
    s.add_argument("camera", type=camera_id, metavar="CAMERA")
    s.add_argument("--protocol", choices=PROTOCOLS, help="print only this URL, alone")

    command("sessions", "list the open sessions (list_sessions, admin)")

    s = command("completion", "print the shell completion script",
                "Print the completion script for SHELL, e.g.: source <(camctl completion bash)", parents=())
    s.add_argument("shell", choices=("bash",), metavar="SHELL", help="bash")

    s = command("fleet", "list every node's cameras from an MQTT broker",
                "List every camservice node's cameras from the retained topics of an MQTT broker alone "
                "(<prefix>/<node>/availability and <prefix>/<node>/cameras/<id>/state): "
                "subscribe, collect until the broker has been quiet for --settle seconds, print.",
                parents=(_common(fleet=True),), epilog=_codes())
    s.add_argument("--broker", required=True, metavar="HOST[:PORT]", help="the broker (port 1883, 8883 with --ca-file)")
    s.add_argument("--prefix", default="camservice", help="the topic prefix of the nodes (default camservice)")
    s.add_argument("--username", help="MQTT user name")
    s.add_argument("--password-file", metavar="FILE", help="file whose first line is the MQTT password")
    s.add_argument("--ca-file", default=argparse.SUPPRESS, metavar="FILE", help="connect with TLS, trusting these CAs (PEM)")
    s.add_argument("--settle", type=_seconds, default=0.5, metavar="S",
                   help="end once no message came for S seconds (default 0.5)")
    s.add_argument("--timeout", default=argparse.SUPPRESS, type=_seconds, metavar="S",
                   help="seconds to connect and subscribe (default 10)")
    return p


def parse(argv, parser: Optional[argparse.ArgumentParser] = None) -> argparse.Namespace:
    """Parse ``argv`` (argparse exits 2 on a usage error, 0 for --help)."""
    args = (parser or build_parser()).parse_args(argv)
    for dest, default in _COMMON_DEFAULTS.items():
        if not hasattr(args, dest):
            setattr(args, dest, default)
    return args
