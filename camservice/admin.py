"""``camservice-admin``: tokens, API keys, stream URLs, config checks and
diagnostics from the shell.

It reads the same configuration (file, ``CAMSERVICE_*`` environment,
defaults) and so the same secret and keys file as the service.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Optional, Sequence

from twisted.python.failure import Failure

from camservice import __version__
from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.roles import Role
from camservice.auth.secret import load_or_create_secret
from camservice.auth.tokens import TokenAuthority
from camservice.config import ConfigError, load_config
from camservice.timeutil import iso_timestamp

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


class _WallClock:
    """``IReactorTime.seconds`` without a reactor."""

    @staticmethod
    def seconds() -> float:
        return time.time()


def _camera_id(text: str) -> str:
    if not text.startswith("camera") or not text[6:].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a camera id (cameraN)")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds")
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 second")
    return value


def _parser() -> argparse.ArgumentParser:
    roles = [r.name for r in Role]
    p = argparse.ArgumentParser(
        prog="camservice-admin",
        description="Mint tokens, manage API keys, check the configuration and diagnose camservice.",
    )
    p.add_argument("--config", "-c", help="YAML configuration file (default: the packaged default)")
    p.add_argument("--version", action="version", version=f"camservice {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("token", help="print a JWT the service accepts (alone on the last line)")
    t.add_argument("--role", required=True, choices=roles)
    t.add_argument("--ttl", type=_positive, help="lifetime in seconds (default: auth.token_ttl)")
    t.add_argument("--user", default="admin-cli", help="user_id claim (default: admin-cli)")
    t.add_argument("--camera", action="append", type=_camera_id, dest="cameras",
                   help="limit the token to this camera (repeatable)")

    k = sub.add_parser("keys", help="manage API keys")
    ksub = k.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    ka = ksub.add_parser("add", help="create a key and print it (alone on the last line)")
    ka.add_argument("--role", required=True, choices=roles)
    ka.add_argument("--name", default="", help="a label for the key")
    ka.add_argument("--expires-in", type=_positive, metavar="SECONDS", help="expire after this many seconds")
    ka.add_argument("--camera", action="append", type=_camera_id, dest="cameras",
                    help="limit the key to this camera (repeatable)")
    ka.add_argument("--from-stdin", action="store_true",
                    help="store the key read from stdin (at least 32 characters) instead of a new one")
    kl = ksub.add_parser("list", help="list keys (never the keys themselves)")
    kl.add_argument("--json", action="store_true", help="machine-readable output")
    kr = ksub.add_parser("revoke", help="delete a key")
    kr.add_argument("key_id", help="the key's id, as listed")

    u = sub.add_parser("stream-url", help="print a camera's stream URLs, signed as the service signs them")
    u.add_argument("camera", type=_camera_id, nargs="?",
                   help="the camera id, e.g. camera1000 (default: every camera the config declares)")
    u.add_argument("--protocol", choices=["rtsp", "hls", "webrtc"],
                   help="print only this URL (alone on the last line)")

    sub.add_parser("check-config", help="validate the configuration and exit")

    d = sub.add_parser(
        "diagnose",
        help="report versions, config (secrets redacted), health, cameras, errors and resource use",
        description="Print what a maintainer asks for first, or write it as one .tar.gz with -o. "
        "The live parts come from the running service through its API on loopback, "
        "with an admin token made from the shared secret; without a running service "
        "the static parts are still reported.",
    )
    d.add_argument("-o", "--output", metavar="FILE", help="write a .tar.gz archive (mode 0600) instead of printing")
    d.add_argument("--timeout", type=_positive, default=10, metavar="SECONDS",
                   help="seconds each request to the service may take (default: 10)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        for line in e.lines():
            print(f"camservice-admin: config error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    clock = _WallClock()
    try:
        if args.command == "check-config":
            if config.server.tls.enabled:
                from camservice.security.tls import load_server_tls

                load_server_tls(config.server.tls)  # the files the service would load
            print(f"configuration OK: {config.source}")
            _summary(config)
            return EXIT_OK
        if args.command == "token":
            return _token(args, config, clock)
        if args.command == "diagnose":
            return _diagnose(args, config, clock)
        if args.command == "stream-url":
            return _stream_url(args, config, clock)
        return _keys(args, config, clock)
    except ConfigError as e:
        for line in e.lines():
            print(f"camservice-admin: config error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, ValueError) as e:
        print(f"camservice-admin: {e}", file=sys.stderr)
        return EXIT_FAILED


def _summary(config) -> None:
    """Where the service will listen and the streams it will serve."""
    from camservice.mediamtx.urls import StreamLocator
    from camservice.streamauth.policy import signed_urls_enabled

    server = config.server
    secure = "s" if server.tls.enabled else ""
    print(f"API:      ws{secure}://{server.host}:{server.port}{server.websocket_path}")
    print(f"health:   http{secure}://{server.host}:{server.port}/health/ready")
    print(f"MediaMTX: {config.mediamtx.mode}, Control API {config.mediamtx.api_url}")
    signed = signed_urls_enabled(config)
    print(f"streams:  signed URLs {'on (camservice-admin stream-url CAMERA mints them)' if signed else 'off'}")
    if signed:
        return
    locator = StreamLocator(config.mediamtx, config.streams)
    for camera in config.cameras.declared:
        urls = locator.urls(camera.id)
        print(f"{camera.id} ({camera.kind}, {camera.name}):")
        for proto in ("rtsp", "hls", "webrtc"):
            if urls[proto]:
                print(f"  {proto:<7} {urls[proto]}")


def _token(args, config, clock) -> int:
    authority = TokenAuthority(load_or_create_secret(config.auth), clock)
    ttl = args.ttl or config.auth.token_ttl
    token = authority.issue(args.user, Role.parse(args.role), ttl, args.cameras)
    print(f"# {args.role} token for {args.user}, expires {iso_timestamp(clock.seconds() + ttl)}", file=sys.stderr)
    print(token)
    return EXIT_OK


def _read_secret(config) -> Optional[str]:
    """The JWT secret, without creating one (a service that never ran has
    none, and diagnose must not leave one behind)."""
    if config.auth.jwt_secret:
        return config.auth.jwt_secret
    try:
        return config.auth.jwt_secret_file.read_text("utf-8").strip() or None
    except OSError:
        return None


def _diagnose(args, config, clock) -> int:
    from camservice.ops import diagnose

    secret = _read_secret(config)
    secrets = (secret,) if secret else ()
    report = diagnose.collect_static(config, secrets)
    token = None
    if secret:
        token = TokenAuthority(secret, clock).issue("camservice-admin-diagnose", Role.admin, 300)
        secrets = secrets + (token,)

    async def live(reactor):
        return await diagnose.collect_live(reactor, config, token, report, secrets, float(args.timeout))

    running = _run_with_reactor(live)
    text = diagnose.render_text(report)
    if args.output:
        path = diagnose.write_archive(report, args.output, text)
        print(f"# diagnostics written to {path}" + ("" if running else " (the service is not running)"),
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _run_with_reactor(fn):
    """Run ``async fn(reactor)`` on a reactor of its own; its result."""
    from twisted.internet import defer, reactor

    outcome = []

    def main():
        d = defer.ensureDeferred(fn(reactor))
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(main)
    reactor.run()
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _stream_url(args, config, clock) -> int:
    from camservice.mediamtx.urls import StreamLocator
    from camservice.streamauth.policy import signed_urls_enabled
    from camservice.streamauth.secrets import StreamSecrets, load_stream_key
    from camservice.streamauth.tokens import StreamTokens

    tokens = None
    if signed_urls_enabled(config):
        tokens = StreamTokens(StreamSecrets(load_stream_key(config.data_dir)), clock, config.streams.token_ttl)
    locator = StreamLocator(config.mediamtx, config.streams, tokens)
    cameras = [args.camera] if args.camera else [c.id for c in config.cameras.declared]
    if not cameras:
        print("camservice-admin: the config declares no cameras; name one (cameraN)", file=sys.stderr)
        return EXIT_FAILED
    for camera in cameras:
        urls = locator.urls(camera)
        if tokens is not None:
            expires = tokens.expires_at(tokens.read_token(camera))
            print(f"# {camera}: playback must start before {iso_timestamp(expires)}", file=sys.stderr)
        else:
            print(f"# {camera}: streams.signed_urls is off, the URLs need no token", file=sys.stderr)
        if args.protocol:
            if urls[args.protocol] is None:
                print(f"camservice-admin: {args.protocol} is not in mediamtx.protocols", file=sys.stderr)
                return EXIT_FAILED
            print(urls[args.protocol])
            continue
        for proto in ("rtsp", "hls", "webrtc"):
            if urls[proto]:
                print(f"{proto:<7} {urls[proto]}")
    return EXIT_OK


def _keys(args, config, clock) -> int:
    store = ApiKeyStore(config.auth.api_keys_file, clock)
    if args.keys_command == "add":
        supplied = sys.stdin.readline().strip() if args.from_stdin else None
        expires = clock.seconds() + args.expires_in if args.expires_in else None
        key, entry = store.add(Role.parse(args.role), args.name, expires, args.cameras, supplied)
        print(f"# key {entry.id} ({entry.role}) stored in {store.path}; it is shown only now", file=sys.stderr)
        print(key)
        return EXIT_OK
    if args.keys_command == "list":
        entries = [k.public() for k in store.keys()]
        if args.json:
            print(json.dumps(entries, indent=2))
        elif not entries:
            print(f"no API keys in {store.path}")
        else:
            print(f"{'ID':<13} {'ROLE':<9} {'EXPIRES':<21} {'CAMERAS':<20} NAME")
            for e in entries:
                cams = ",".join(e["cameras"]) if e["cameras"] is not None else "all"
                print(f"{e['id']:<13} {e['role']:<9} {e['expires_at'] or 'never':<21} {cams:<20} {e['name']}")
        return EXIT_OK
    if store.revoke(args.key_id):
        print(f"revoked {args.key_id}")
        return EXIT_OK
    print(f"camservice-admin: no API key with id {args.key_id}", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
