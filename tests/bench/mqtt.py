"""The MQTT bridge: event-to-publish latency, command round trip over the
broker, and what the bridge costs a service with 16 cameras.

    .venv/bin/python tests/bench/mqtt.py [--quick] [--events N] [--commands N]

Starts Mosquitto (Debian's ``mosquitto``, anonymous, on a free loopback
port) and camservice (``twistd -n camservice``) with 16 virtual cameras
declared and ``mqtt.enabled`` (``coalesce_delay: 0``, so the figures are
the bridge's own; the default 0.25 s debounce adds that much by design).
A paho-mqtt client in this process subscribes to ``camservice/bench/#``;
a WebSocket client is subscribed to the same camera notifications. Then:

- event to publish: a declared camera renamed in the file, SIGHUP; the
  ``camera_status_update`` reaches the WebSocket client and the retained
  ``cameras/<id>/state`` reaches the MQTT subscriber through the broker:
  p50/p99 of MQTT arrival minus the SIGHUP, and minus the WebSocket
  notification's arrival (what the bridge and the broker hop add to the
  API's own notification);
- command round trip: ``get_camera_list`` (16 cameras) over MQTT 5
  request/response with a JWT in a user property, one after another;
  the same over the WebSocket for comparison;
- cost: RSS and CPU of the service idle for ``--idle`` seconds with the
  bridge off, on (Home Assistant discovery off), and on with Home
  Assistant discovery publishing a still of every camera every 10 s;
- CPU time of the service per event (the renames above, each a reload, a
  WebSocket notification and, with the bridge on, the state and events
  published: run with the bridge off too, so the difference is the
  bridge's share) and per command (MQTT and WebSocket round trips), from
  ``/proc/<pid>/stat`` over each whole loop.

Prints progress to stderr and one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

from camservice.mqtt import compat  # noqa: E402

CAMERAS = 16
NODE = "bench"


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


class Broker:
    def __init__(self):
        self.port = h.free_port()
        self.tmp = Path(h.tempfile.mkdtemp(prefix="camservice-bench-mqtt-"))
        conf = self.tmp / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "set_tcp_nodelay true\nlog_dest stderr\nlog_type error\n")
        self.proc = h.spawn(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                h.socket.create_connection((h.HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not listen")
                time.sleep(0.05)

    def stop(self) -> None:
        h.stop_process(self.proc)
        h.shutil.rmtree(self.tmp, ignore_errors=True)


class Subscriber:
    """paho with its own network thread; arrival times by topic."""

    def __init__(self, port: int):
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[tuple[float, bytes]]] = {}
        self.replies: dict[bytes, tuple[float, bytes]] = {}
        self.client = compat.make_client(f"bench-{os.getpid()}")
        self.client.on_message = self._message
        self.client.connect(h.HOST, port, keepalive=60)
        # as camservice's own client does: no Nagle delay behind a PUBACK
        self.client.socket().setsockopt(h.socket.IPPROTO_TCP, h.socket.TCP_NODELAY, 1)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise RuntimeError("the bench's MQTT client did not connect")
            time.sleep(0.01)

    def _message(self, client, userdata, message) -> None:
        now = time.monotonic()
        correlation = getattr(message.properties, "CorrelationData", None) if message.properties else None
        with self.lock:
            if correlation is not None and "/rpc/response/" in message.topic:
                self.replies[bytes(correlation)] = (now, bytes(message.payload))
            else:
                self.arrivals.setdefault(message.topic, []).append((now, bytes(message.payload)))

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _service(broker: Broker, mqtt: dict) -> h.Service:
    return h.Service(cameras=CAMERAS, config_extra={"mqtt": mqtt, "reload": {"backups": 0}})


def _mqtt(broker: Broker, **extra) -> dict:
    section = {"enabled": True, "host": h.HOST, "port": broker.port, "node_id": NODE, "coalesce_delay": 0}
    section.update(extra)
    return section


def _rename(service: h.Service, n: int) -> None:
    document = json.loads(service.config.read_text())
    document["cameras"]["declared"][-1]["name"] = f"Renamed {n}"
    service.config.write_text(json.dumps(document, indent=2) + "\n")


def _pct(values: list[float]) -> dict:
    s = sorted(values)
    return {"p50": round(h.percentile(s, 50), 3), "p99": round(h.percentile(s, 99), 3), "n": len(s)}


async def _events(service: h.Service, sub: Optional[Subscriber], n: int) -> dict:
    """``n`` renames; without ``sub`` (the bridge off) only the WebSocket
    notification is waited for."""
    topic = f"camservice/{NODE}/cameras/camera{1000 + CAMERAS - 1}/state"
    client = await h.RpcClient.connect(h.HOST, service.port, token=service.mint_token("admin"))
    ws_arrivals: list[tuple[float, str]] = []
    original = client.ws.on_text

    def on_text(payload: bytes) -> None:
        ws_arrivals.append((time.monotonic(), payload))
        original(payload)

    client.ws.on_text = on_text
    from_signal, from_ws = [], []
    cpu0 = h.cpu_seconds(service.pid)
    for i in range(n):
        name = f"Renamed {i}"
        _rename(service, i)
        seen_ws = len(ws_arrivals)
        seen_mqtt = 0
        if sub is not None:
            with sub.lock:
                seen_mqtt = len(sub.arrivals.get(topic, []))
        sent = time.monotonic()
        os.kill(service.pid, signal.SIGHUP)
        deadline = sent + 30
        mqtt_at = ws_at = None
        if sub is None:
            mqtt_at = 0.0
        while time.monotonic() < deadline and (mqtt_at is None or ws_at is None):
            await asyncio.sleep(0.0005)
            if ws_at is None:
                for at, payload in ws_arrivals[seen_ws:]:
                    if b"camera_status_update" in payload and name.encode() in payload:
                        ws_at = at
                        break
            if mqtt_at is None:
                with sub.lock:
                    for at, payload in sub.arrivals.get(topic, [])[seen_mqtt:]:
                        if name.encode() in payload:
                            mqtt_at = at
                            break
        if mqtt_at is None or ws_at is None:
            raise RuntimeError(f"rename {i}: no MQTT state or WebSocket notification in time")
        if sub is not None:
            from_signal.append((mqtt_at - sent) * 1000)
            from_ws.append((mqtt_at - ws_at) * 1000)
        await asyncio.sleep(0.05)
    cpu_ms = round((h.cpu_seconds(service.pid) - cpu0) * 1000 / n, 3)
    await client.close()
    if sub is None:
        return {"cpu_ms_per_event": cpu_ms}
    return {"event_to_publish_ms": _pct(from_signal), "after_websocket_notification_ms": _pct(from_ws),
            "cpu_ms_per_event": cpu_ms}


async def _commands(service: h.Service, sub: Subscriber, n: int) -> dict:
    token = service.mint_token("viewer")
    response = f"camservice/{NODE}/rpc/response/bench"
    sub.subscribe(response)
    await asyncio.sleep(0.5)
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "get_camera_list"}).encode()
    mqtt_ms = []
    cpu0 = h.cpu_seconds(service.pid)
    for i in range(n):
        props = compat.Properties(compat.PacketTypes.PUBLISH)
        props.ResponseTopic = response
        correlation = f"req-{i}".encode()
        props.CorrelationData = correlation
        props.UserProperty = ("authorization", f"Bearer {token}")
        sent = time.monotonic()
        sub.client.publish(f"camservice/{NODE}/rpc", request, qos=1, properties=props)
        deadline = sent + 10
        while True:
            with sub.lock:
                got = sub.replies.get(correlation)
            if got is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer to request {i}")
            await asyncio.sleep(0.0002)
        reply = json.loads(got[1])
        if len(reply.get("result", {}).get("cameras", [])) != CAMERAS:
            raise RuntimeError(f"unexpected answer: {reply}")
        mqtt_ms.append((got[0] - sent) * 1000)
    mqtt_cpu = h.cpu_seconds(service.pid) - cpu0
    client = await h.RpcClient.connect(h.HOST, service.port, token=token)
    ws_ms = []
    cpu0 = h.cpu_seconds(service.pid)
    for _ in range(n):
        sent = time.monotonic()
        await client.result("get_camera_list")
        ws_ms.append((time.monotonic() - sent) * 1000)
    ws_cpu = h.cpu_seconds(service.pid) - cpu0
    await client.close()
    return {"mqtt_round_trip_ms": _pct(mqtt_ms), "websocket_round_trip_ms": _pct(ws_ms),
            "cpu_ms_per_command": {"mqtt": round(mqtt_cpu * 1000 / n, 3), "websocket": round(ws_cpu * 1000 / n, 3)}}


def _wait_connected(service: h.Service, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{h.HOST}:{service.port}/health/mqtt", timeout=2) as r:
                if json.loads(r.read())["status"] == "connected":
                    return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the bridge did not connect")
        time.sleep(0.1)


def _cost(service: h.Service, idle: float) -> dict:
    time.sleep(3)  # settle: MediaMTX paths, first publishes
    cpu0 = h.cpu_seconds(service.pid)
    time.sleep(idle)
    cpu = h.cpu_seconds(service.pid) - cpu0
    return {"rss_mb": round(h.rss_mb(service.pid), 1), "cpu_percent": round(100 * cpu / idle, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    if args.quick:
        args.events, args.commands, args.idle = 20, 50, 5.0
    h.install_cleanup()
    started = time.monotonic()
    result = {"bench": "mqtt", "cameras": CAMERAS, "paho": compat.PAHO_VERSION}
    broker = Broker()
    try:
        costs = {}
        log("bridge off: idle cost, CPU per event")
        with _service(broker, {"enabled": False}) as service:
            costs["bridge_off"] = _cost(service, args.idle)
            off_events = asyncio.run(_events(service, None, args.events))
        log("bridge on, Home Assistant off: latency, round trips, idle cost")
        sub = Subscriber(broker.port)
        sub.subscribe(f"camservice/{NODE}/#")
        try:
            with _service(broker, _mqtt(broker, homeassistant={"enabled": False})) as service:
                _wait_connected(service)
                costs["bridge_on"] = _cost(service, args.idle)
                result.update(asyncio.run(_events(service, sub, args.events)))
                result.update(asyncio.run(_commands(service, sub, args.commands)))
        finally:
            sub.stop()
        log("bridge on, Home Assistant stills every 10 s: idle cost")
        with _service(broker, _mqtt(broker, homeassistant={"enabled": True, "still_interval": 10})) as service:
            _wait_connected(service)
            costs["bridge_and_homeassistant_stills"] = _cost(service, max(args.idle, 10.0))
        result["cost"] = costs
        on = result.pop("cpu_ms_per_event")
        result["cpu_ms_per_event"] = {"bridge_off": off_events["cpu_ms_per_event"], "bridge_on": on,
                                      "bridge": round(on - off_events["cpu_ms_per_event"], 3)}
        result["bridge_rss_mb"] = round(costs["bridge_on"]["rss_mb"] - costs["bridge_off"]["rss_mb"], 1)
        result["bridge_cpu_percent"] = round(costs["bridge_on"]["cpu_percent"] - costs["bridge_off"]["cpu_percent"], 2)
    finally:
        broker.stop()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
