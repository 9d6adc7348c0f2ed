"""``camctl fleet``: every node's cameras from an MQTT broker alone.

It subscribes to the retained topics the MQTT bridge publishes, collects
until the broker has been quiet for ``--settle`` seconds, prints, and
disconnects. A short-lived command, so it runs paho-mqtt's own blocking
network loop (no reactor). paho-mqtt 1.6 (Debian 12) and 2.x (PyPI) differ
in their constructor and callback signatures; both are handled here.
"""
from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Optional

from camservice.cli import exits
from camservice.cli.exits import CliError
from camservice.cli.fleet_view import FleetView

__all__ = ["broker_address", "collect", "fleet"]

#: CONNACK refusals that mean "who you are" (MQTT 3.1.1 codes 4, 5; MQTT 5 / paho 2 codes 134, 135)
_AUTH_REFUSALS = {4, 5, 134, 135}


def broker_address(text: str, tls: bool) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[IPv6]:PORT`` -> ``(host, port)``."""
    default = 8883 if tls else 1883
    host, port = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise CliError(f"--broker {text!r}: no closing ]", exits.USAGE)
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise CliError(f"--broker {text!r}: expected :PORT after ]", exits.USAGE)
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host:
        raise CliError(f"--broker {text!r}: no host", exits.USAGE)
    if port is None:
        return host, default
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--broker {text!r}: the port must be 1..65535", exits.USAGE)
    return host, int(port)


def _code(value) -> int:
    """A paho result or reason code as an int (paho 2 gives ReasonCode objects)."""
    value = getattr(value, "value", value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _make_client():
    import paho.mqtt.client as mqtt

    client_id = "camctl-fleet-" + secrets.token_hex(4)
    api = getattr(mqtt, "CallbackAPIVersion", None)
    if api is not None:  # paho-mqtt 2.x
        return mqtt.Client(api.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)
    return mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)  # paho-mqtt 1.x


class _Collector:
    """paho's callbacks, with signatures that fit both APIs."""

    def __init__(self, view: FleetView, topics: list[str], clock):
        self.view = view
        self.topics = topics
        self.clock = clock
        self.connected = False
        self.subscribed = False
        self.pending_subscriptions: set[int] = set()
        self.last_message: Optional[float] = None
        self.error: Optional[CliError] = None

    def on_connect(self, client, userdata, flags, rc, properties=None):
        code = _code(rc)
        if code != 0:
            exit_code = exits.AUTH if code in _AUTH_REFUSALS else exits.CONNECTION
            self.error = CliError(f"the broker refused the connection: {_reason(rc)}", exit_code)
            return
        self.connected = True
        for topic in self.topics:
            result, mid = client.subscribe(topic, qos=0)
            if _code(result) != 0:
                self.error = CliError(f"cannot subscribe to {topic} (paho error {_code(result)})", exits.CONNECTION)
                return
            self.pending_subscriptions.add(mid)

    def on_subscribe(self, client, userdata, mid, granted, properties=None):
        refused = [g for g in (granted if isinstance(granted, (list, tuple)) else [granted]) if _code(g) >= 0x80]
        if refused:
            self.error = CliError("the broker refused the subscription (its ACL does not let this user read "
                                  f"{' '.join(self.topics)})", exits.AUTH)
            return
        self.pending_subscriptions.discard(mid)
        if not self.pending_subscriptions:
            self.subscribed = True
            self.last_message = self.clock()

    def on_message(self, client, userdata, message):
        self.view.apply(message.topic, message.payload)
        if self.subscribed:
            self.last_message = self.clock()

    def on_disconnect(self, client, userdata, *rest):
        if self.error is None and not self.finished:
            reason = rest[1] if len(rest) >= 2 else (rest[0] if rest else None)
            self.error = CliError(f"the broker closed the connection ({_reason(reason)})", exits.CONNECTION)

    finished = False


def _reason(rc) -> str:
    if rc is None:
        return "no reason given"
    name = getattr(rc, "getName", None)
    if callable(name):
        return f"{name()} ({_code(rc)})"
    try:
        import paho.mqtt.client as mqtt

        return f"{mqtt.connack_string(_code(rc))} ({_code(rc)})"
    except Exception:  # an unknown code: the number says enough
        return str(rc)


def collect(host: str, port: int, prefix: str, username: Optional[str] = None, password: Optional[str] = None,
            ca_file: Optional[Path] = None, settle: float = 0.5, timeout: float = 10.0, clock=time.monotonic) -> FleetView:
    """Connect, subscribe to the fleet's retained topics, and collect
    until no message came for ``settle`` seconds after the subscription.

    :raises CliError: CONNECTION (unreachable, TLS, timeout), AUTH
        (refused credentials or ACL), USAGE (paho-mqtt missing).
    """
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        raise CliError("camctl fleet needs paho-mqtt (pip install 'camservice[mqtt]', "
                       "or apt install python3-paho-mqtt)", exits.USAGE) from None
    prefix = prefix.strip("/")
    view = FleetView(prefix)
    topics = [f"{prefix}/+/availability", f"{prefix}/+/cameras/+/state"]
    state = _Collector(view, topics, clock)
    client = _make_client()
    client.on_connect = state.on_connect
    client.on_subscribe = state.on_subscribe
    client.on_message = state.on_message
    client.on_disconnect = state.on_disconnect
    if username is not None:
        client.username_pw_set(username, password)
    if ca_file is not None:
        import ssl

        try:
            client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED)
        except (OSError, ssl.SSLError) as e:
            raise CliError(f"cannot use the CA file {ca_file}: {e}", exits.USAGE) from None
    if isinstance(getattr(type(client), "connect_timeout", None), property):
        client.connect_timeout = timeout
    else:
        client._connect_timeout = timeout  # paho-mqtt 1.x has no setter
    where = f"{host}:{port}"
    try:
        client.connect(host, port, keepalive=max(int(timeout) * 2, 10))
    except OSError as e:  # refused, unreachable, name unknown, TLS (ssl.SSLError is an OSError)
        raise CliError(f"cannot connect to the broker {where}: {e.strerror or e}", exits.CONNECTION) from None
    deadline = clock() + timeout
    try:
        while True:
            rc = client.loop(timeout=0.05)
            if state.error is not None:
                raise state.error
            if _code(rc) != 0:
                raise CliError(f"lost the connection to the broker {where} (paho error {_code(rc)})", exits.CONNECTION)
            now = clock()
            if state.subscribed:
                if now - state.last_message >= settle:
                    break
            elif now > deadline:
                what = "subscription" if state.connected else "connection"
                raise CliError(f"the broker {where} did not confirm the {what} within {timeout:g} s", exits.CONNECTION)
    finally:
        state.finished = True
        try:
            client.disconnect()
            client.loop(timeout=0.01)
        except Exception:  # already gone: nothing to close
            pass
    return view


def _password(path: Optional[str]) -> Optional[str]:
    if path is None:
        return None
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as e:
        raise CliError(f"cannot read the password file {path}: {e.strerror}", exits.USAGE) from None
    if not lines or not lines[0]:
        raise CliError(f"the password file {path} is empty", exits.USAGE)
    return lines[0]


def fleet(args, out, environ) -> int:
    """Run ``camctl fleet``; the exit code (failures raise CliError)."""
    if args.password_file and not args.username:
        raise CliError("--password-file needs --username", exits.USAGE)
    ca = Path(args.ca_file) if args.ca_file else None
    if ca is not None and not ca.is_file():
        raise CliError(f"cannot read the CA file {ca}", exits.USAGE)
    host, port = broker_address(args.broker, ca is not None)
    view = collect(host, port, args.prefix, args.username, _password(args.password_file), ca,
                   args.settle, args.timeout)
    out.document(view.document(f"{host}:{port}"))
    out.table(("NODE", "AVAILABILITY", "CAMERA", "STATUS", "NAME", "RESOLUTION"), view.rows(),
              empty=f"no camservice nodes under {view.prefix}/ on {host}:{port}")
    for warning in view.warnings:
        out.note(f"camctl: warning: {warning}")
    if not out.json_mode and view.nodes():
        document = view.document()
        online = sum(1 for n in document["nodes"] if n["availability"] == "online")
        out.line(f"{document['total_nodes']} node(s), {online} online, {document['total_cameras']} camera(s)")
    return exits.OK
