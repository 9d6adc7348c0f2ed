"""The API as a client meets it: a real WebSocket client on loopback."""
from __future__ import annotations

import json

import pytest
import pytest_twisted
import treq
from twisted.internet import defer

from camservice.cameras.model import CameraStatus


def _ok(reply):
    assert "error" not in reply, reply
    return reply["result"]


@pytest_twisted.ensureDeferred
async def test_ping_needs_no_auth_and_carries_metadata(live):
    client = await live.connect()
    reply = await client.call("ping")
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == 1
    assert reply["result"] == "pong"
    meta = reply["metadata"]
    assert meta["request_id"].startswith("c")
    assert meta["processing_time_ms"] >= 0
    assert meta["server_timestamp"].endswith("Z")
    await client.close()


@pytest_twisted.ensureDeferred
async def test_unauthenticated_call_is_refused_then_authenticate_lists_cameras(live):
    client = await live.connect()
    refused = await client.call("get_camera_list")
    assert refused["error"]["code"] == -32001
    assert refused["error"]["data"]["reason"] == "not authenticated"

    auth = _ok(await client.call("authenticate", {"auth_token": live.token("viewer")}))
    assert auth["authenticated"] is True
    assert auth["role"] == "viewer"
    assert auth["permissions"] == ["view"]
    assert auth["expires_at"].endswith("Z")
    assert auth["session_id"]

    listing = _ok(await client.call("get_camera_list"))
    assert listing["total"] == 1 and listing["connected"] == 1
    camera = listing["cameras"][0]
    m = live.config.mediamtx
    assert camera == {
        "device": "camera1000",
        "status": "CONNECTED",
        "name": "Pattern",
        "resolution": "320x240",
        "fps": 10,
        "streams": {
            "rtsp": f"rtsp://127.0.0.1:{m.rtsp_port}/camera1000",
            "hls": f"http://127.0.0.1:{m.hls_port}/camera1000/index.m3u8",
            "webrtc": f"http://127.0.0.1:{m.webrtc_port}/camera1000/whep",
        },
    }
    denied = await client.call("get_status")
    assert denied["error"]["code"] == -32002
    assert denied["error"]["data"]["required_role"] == "admin"
    assert denied["error"]["data"]["have_role"] == "viewer"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_auth_token_param_authenticates_one_call(live):
    client = await live.connect()
    reply = await client.call("get_camera_list", {"auth_token": live.token("viewer")})
    assert _ok(reply)["total"] == 1
    # the connection itself is still anonymous
    assert (await client.call("get_camera_list"))["error"]["code"] == -32001
    bad = await client.call("get_camera_list", {"auth_token": "x" * 40})
    assert bad["error"]["code"] == -32001
    assert bad["error"]["data"]["reason"] == "unknown API key"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_subscribed_client_receives_camera_status_update(live):
    client = await live.authed_client("viewer")
    sub = _ok(await client.call("subscribe_events", {"topics": ["camera.status_change", "camera.disconnected"]}))
    assert sub == {"subscribed": True, "topics": ["camera.disconnected", "camera.status_change"], "filters": {}}

    live.registry.update("camera1000", name="Renamed")
    note = await client.notifications.get()
    assert note["method"] == "camera_status_update"
    assert "id" not in note
    assert note["params"]["device"] == "camera1000"
    assert note["params"]["name"] == "Renamed"
    assert note["params"]["status"] == "CONNECTED"

    live.registry.update("camera1000", status=CameraStatus.ERROR, error="test")
    note = await client.notifications.get()
    assert note["params"]["status"] == "ERROR"

    live.registry.remove("camera1000")
    note = await client.notifications.get()
    assert note["params"]["status"] == "DISCONNECTED"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_unauthenticated_and_filtered_clients_get_no_notifications(live):
    anonymous = await live.connect()
    filtered = await live.authed_client("viewer")
    _ok(await filtered.call("subscribe_events", {"topics": ["camera.status_change"], "filters": {"device": "camera9999"}}))
    watcher = await live.authed_client("viewer")

    live.registry.update("camera1000", name="Again")
    note = await watcher.notifications.get()
    assert note["params"]["name"] == "Again"
    # round trips after the event prove nothing else was queued meanwhile
    await anonymous.call("ping")
    await filtered.call("ping")
    assert anonymous.notifications.pending == []
    assert filtered.notifications.pending == []
    for c in (anonymous, filtered, watcher):
        await c.close()


@pytest_twisted.ensureDeferred
async def test_garbage_frames_answer_parse_error_and_connection_stays_usable(live):
    client = await live.connect()
    for garbage in (b"{not json", b"\x00\x01", b"[1, 2", b"null", b'"text"', b"[]"):
        reply = await client.send_raw(garbage)
        assert reply["id"] is None
        assert reply["error"]["code"] in (-32700, -32600), (garbage, reply)
    parse = await client.send_raw(b"{nope")
    assert parse["error"]["code"] == -32700
    batch = await client.send_raw(b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]')
    assert batch["error"]["code"] == -32600 and batch["id"] is None
    binary = await client.send_raw(b'{"jsonrpc":"2.0","id":5,"method":"ping"}', is_binary=True)
    assert binary["error"]["code"] == -32600
    assert (await client.call("ping"))["result"] == "pong"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_ids_are_echoed_unchanged_and_notifications_get_no_reply(live):
    client = await live.connect()
    for msg_id in ("abc", 0, -7, 2**40, "ümlaut-✓"):
        reply = await client.request({"jsonrpc": "2.0", "id": msg_id, "method": "ping"})
        assert reply["id"] == msg_id and type(reply["id"]) is type(msg_id)
    client.notify("ping")
    client.notify("no_such_method")
    reply = await client.request({"jsonrpc": "2.0", "id": "after", "method": "ping"})
    assert reply["id"] == "after"
    assert client.raw.pending == []
    await client.close()


@pytest_twisted.ensureDeferred
async def test_oversize_frame_closes_with_1009(live):
    client = await live.connect()
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "a" * 70000}}).encode()
    client.proto.sendMessage(big)
    code, _reason = await client.closed
    assert code == 1009


@pytest_twisted.ensureDeferred
async def test_hundred_concurrent_clients(live):
    token = live.token("viewer")

    async def one(n):
        client = await live.connect()
        _ok(await client.call("authenticate", {"auth_token": token}))
        result = _ok(await client.call("get_camera_list"))
        assert result["total"] == 1
        assert (await client.call("ping"))["result"] == "pong"
        return client

    clients = await defer.gatherResults([defer.ensureDeferred(one(n)) for n in range(100)], consumeErrors=True)
    stats = _ok(await clients[0].call("get_subscription_stats"))
    assert stats["global_stats"]["active_clients"] == 100
    await defer.gatherResults([c.close() for c in clients])


@pytest_twisted.ensureDeferred
async def test_health_and_metrics_endpoints(live):
    alive = await treq.get(live.http + "/health/alive")
    assert alive.code == 200
    assert (await alive.json())["status"] == "alive"
    ready = await treq.get(live.http + "/health/ready")
    assert ready.code == 200
    body = await ready.json()
    assert body["components"]["websocket_server"] == "RUNNING"
    cameras = await treq.get(live.http + "/health/cameras")
    assert cameras.code == 200
    assert (await cameras.json())["cameras"] == {"camera1000": "CONNECTED"}

    live.registry.update("camera1000", status=CameraStatus.ERROR, error="broken")
    cameras = await treq.get(live.http + "/health/cameras")
    assert cameras.code == 503
    assert (await cameras.json())["errors"] == ["camera1000"]

    client = await live.authed_client("viewer")
    await client.call("get_camera_list")
    await client.call("get_status")  # denied
    metrics = await treq.get(live.http + "/metrics")
    text = await metrics.text()
    assert metrics.code == 200
    assert 'camservice_rpc_requests_total{code="0",method="get_camera_list"} 1.0' in text
    assert 'camservice_rpc_requests_total{code="-32002",method="get_status"} 1.0' in text
    assert "camservice_rpc_latency_seconds_bucket" in text
    assert "camservice_websocket_connections 1.0" in text
    assert 'camservice_auth_failures_total{kind="denied"} 1.0' in text
    await client.close()


@pytest_twisted.ensureDeferred
async def test_stop_sends_close_frame_to_clients(live):
    client = await live.authed_client("viewer")
    await live.tree.stopService()
    code, reason = await client.closed
    assert (code, reason) == (1001, "server shutting down")
    # the port is closed too
    with pytest.raises(Exception):
        await live.connect()


@pytest_twisted.ensureDeferred
async def test_status_methods_for_admin(live):
    client = await live.authed_client("admin")
    status = _ok(await client.call("get_status"))
    assert status["status"] == "HEALTHY"
    assert status["components"] == {
        "websocket_server": "RUNNING",
        "camera_monitor": "RUNNING",
        "mediamtx": "RUNNING",
    }
    system = _ok(await client.call("get_system_status"))
    assert system["status"] == "ready"
    assert system["available_cameras"] == ["camera1000"]
    assert system["discovery_active"] is False  # USB discovery is off in these tests
    info = _ok(await client.call("get_server_info"))
    assert info["name"] == "camservice"
    assert "get_camera_list" in info["methods"]
    metrics = _ok(await client.call("get_metrics"))
    assert metrics["camera_metrics"]["connected_cameras"] == 1
    assert 0 <= metrics["system_metrics"]["memory_usage"] <= 100
    capabilities = _ok(await client.call("get_camera_capabilities", {"device": "camera1000"}))
    assert capabilities == {
        "device": "camera1000",
        "formats": ["H264"],
        "resolutions": ["320x240"],
        "fps_options": [10],
        "validation_status": "CONFIRMED",
    }
    status = _ok(await client.call("get_camera_status", {"device": "camera1000", "debug": True}))
    assert status["metrics"]["readers"] == 0
    assert status["debug"]["internal_device_path"].startswith("testsrc")
    missing = await client.call("get_camera_status", {"device": "camera7"})
    assert missing["error"]["code"] == -32010
    assert missing["error"]["data"] == {"resource": "camera", "id": "camera7", "reason": "no such camera"}
    await client.close()
