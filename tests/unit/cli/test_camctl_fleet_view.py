"""The fleet as ``camctl fleet`` reads it from retained messages, and the
broker address and paho result codes it takes (paho 1.6 ints, 2.x
ReasonCode objects)."""
from __future__ import annotations

import json

import pytest

from camservice.cli.exits import USAGE, CliError
from camservice.cli.fleet import _code, _Collector, broker_address
from camservice.cli.fleet_view import FleetView


def _state(device, **fields):
    return json.dumps(dict({"device": device, "status": "CONNECTED", "name": device, "resolution": "320x240",
                            "fps": 10, "streams": {}}, **fields)).encode()


def test_nodes_cameras_and_availability():
    view = FleetView("camservice")
    view.apply("camservice/b/availability", b"offline")
    view.apply("camservice/a/cameras/camera10/state", _state("camera10"))
    view.apply("camservice/a/cameras/camera2/state", _state("camera2"))
    view.apply("camservice/a/availability", b"online")
    document = view.document("broker:1883")
    assert [(n["node"], n["availability"], [c["device"] for c in n["cameras"]]) for n in document["nodes"]] == [
        ("a", "online", ["camera2", "camera10"]), ("b", "offline", [])]
    assert (document["total_nodes"], document["total_cameras"], document["broker"]) == (2, 2, "broker:1883")
    assert view.rows() == [
        ("a", "online", "camera2", "CONNECTED", "camera2", "320x240"),
        ("a", "online", "camera10", "CONNECTED", "camera10", "320x240"),
        ("b", "offline", None, None, None, None),
    ]


def test_later_messages_win_and_an_empty_payload_removes():
    view = FleetView("camservice")
    view.apply("camservice/a/cameras/camera0/state", _state("camera0"))
    view.apply("camservice/a/cameras/camera0/state", _state("camera0", status="ERROR"))
    assert view.document()["nodes"][0]["cameras"][0]["status"] == "ERROR"
    view.apply("camservice/a/cameras/camera0/state", b"")
    assert view.document()["nodes"] == []
    view.apply("camservice/a/availability", b"online")
    view.apply("camservice/a/availability", b"")
    assert view.nodes() == []


def test_a_node_without_availability_is_unknown():
    view = FleetView("camservice")
    view.apply("camservice/a/cameras/camera0/state", _state("camera0"))
    assert view.document()["nodes"][0]["availability"] == "unknown"


def test_other_topics_and_prefixes_are_not_the_fleet():
    view = FleetView("site/cams/")
    view.apply("site/cams/a/availability", b"online")
    for topic in ("camservice/x/availability", "site/cams/a/cameras/camera0/recording", "site/cams/a/events/x",
                  "site/cams//availability", "site/cams/a/cameras//state", "site/camsX/b/availability"):
        view.apply(topic, _state("camera0"))
    assert view.nodes() == ["a"] and view.cameras == {}


def test_bad_payloads_are_warnings():
    view = FleetView("camservice")
    view.apply("camservice/a/cameras/camera0/state", b"{nope")
    view.apply("camservice/a/cameras/camera1/state", b"[1, 2]")
    view.apply("camservice/a/availability", b"onl\x1bine")
    assert view.warnings == ["camservice/a/cameras/camera0/state: not JSON, left out",
                             "camservice/a/cameras/camera1/state: not a JSON object, left out"]
    assert view.availability["a"] == "onl?ine"
    # a state without its id gets it from the topic
    view.apply("camservice/a/cameras/camera3/state", b'{"status": "CONNECTED"}')
    assert view.cameras["a"]["camera3"]["device"] == "camera3"


@pytest.mark.parametrize("text, tls, address", [
    ("mqtt.lan", False, ("mqtt.lan", 1883)),
    ("mqtt.lan", True, ("mqtt.lan", 8883)),
    ("127.0.0.1:1884", False, ("127.0.0.1", 1884)),
    ("[::1]:1884", False, ("::1", 1884)),
    ("[::1]", True, ("::1", 8883)),
    ("::1", False, ("::1", 1883)),
])
def test_broker_addresses(text, tls, address):
    assert broker_address(text, tls) == address


@pytest.mark.parametrize("text", ["", ":1883", "h:0", "h:65536", "h:x", "[::1", "[::1]1883"])
def test_bad_broker_addresses(text):
    with pytest.raises(CliError) as caught:
        broker_address(text, False)
    assert caught.value.exit_code == USAGE


class _ReasonCode:
    """What paho 2.x hands its callbacks instead of ints."""

    def __init__(self, value, name):
        self.value = value
        self._name = name

    def getName(self):
        return self._name


def test_result_codes_of_both_paho_apis():
    assert _code(0) == 0 and _code(_ReasonCode(135, "Not authorized")) == 135 and _code(None) == -1


@pytest.mark.parametrize("rc, exit_code", [(4, 4), (5, 4), (_ReasonCode(134, "Bad user name or password"), 4),
                                           (_ReasonCode(135, "Not authorized"), 4), (3, 3), (_ReasonCode(136, "Server unavailable"), 3)])
def test_a_refused_connection(rc, exit_code):
    collector = _Collector(FleetView("camservice"), ["camservice/+/availability"], lambda: 0.0)
    collector.on_connect(None, None, {}, rc)
    assert collector.error.exit_code == exit_code and not collector.connected


class _Client:
    def __init__(self):
        self.subscribed = []

    def subscribe(self, topic, qos=0):
        self.subscribed.append(topic)
        return 0, len(self.subscribed)


def test_subscriptions_confirmed_or_refused_with_both_callback_signatures():
    now = [5.0]
    collector = _Collector(FleetView("camservice"), ["t/1", "t/2"], lambda: now[0])
    client = _Client()
    collector.on_connect(client, None, {}, _ReasonCode(0, "Success"), None)  # paho 2.x: properties too
    assert client.subscribed == ["t/1", "t/2"]
    collector.on_subscribe(client, None, 1, (0,))  # paho 1.x: granted QoS ints
    assert not collector.subscribed
    collector.on_subscribe(client, None, 2, [_ReasonCode(0, "Granted QoS 0")], None)
    assert collector.subscribed and collector.last_message == 5.0
    refused = _Collector(FleetView("camservice"), ["t/1"], lambda: 0.0)
    refused.on_connect(client, None, {}, 0)
    refused.on_subscribe(client, None, 3, (128,))
    assert refused.error.exit_code == 4 and not refused.subscribed


def test_a_disconnect_while_collecting_is_a_connection_failure_with_both_signatures():
    for args in ((7,), ({}, _ReasonCode(142, "Session taken over"), None)):
        collector = _Collector(FleetView("camservice"), [], lambda: 0.0)
        collector.on_disconnect(None, None, *args)
        assert collector.error.exit_code == 3
    done = _Collector(FleetView("camservice"), [], lambda: 0.0)
    done.finished = True
    done.on_disconnect(None, None, 0)
    assert done.error is None
