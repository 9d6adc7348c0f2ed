"""Recordings and snapshots on disk, as clients meet them on a running
service: list, info (real ffprobe), delete over the WebSocket; downloads
over real HTTP with ranges; refusals; camera allow lists; retention."""
from __future__ import annotations

import os
import time

import pytest
import pytest_twisted
import treq
from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint

from camservice.procutil import run_checked

DAY = 86400


def _put(folder, name, data: bytes, age: float = 0.0):
    """A finalized file: written under a dot-name, fsynced, renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if age:
        t = time.time() - age
        os.utime(tmp, (t, t))
    os.rename(tmp, folder / name)
    return folder / name


async def _video(folder, name, seconds: int):
    """A real MP4 of ``seconds`` seconds (FFmpeg's test pattern)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp.mp4"
    await run_checked(reactor, ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                                f"testsrc=size=160x120:rate=10:duration={seconds}",
                                "-c:v", "mpeg4", "-f", "mp4", str(tmp)], 30)
    os.rename(tmp, folder / name)
    return folder / name


class _Raw(protocol.Protocol):
    def __init__(self):
        self.received = bytearray()
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.lost.callback(None)


async def _raw_request(port: int, method: bytes, target: bytes, headers: bytes = b"") -> bytes:
    """A request line sent as is (HTTP clients normalise ``..`` away)."""
    proto = _Raw()
    await TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5).connect(
        protocol.Factory.forProtocol(lambda: proto))
    proto.transport.write(method + b" " + target + b" HTTP/1.0\r\nHost: x\r\n" + headers + b"\r\n")
    await proto.lost
    return bytes(proto.received)


def _raw_get(port: int, target: bytes, headers: bytes = b""):
    return defer.ensureDeferred(_raw_request(port, b"GET", target, headers))


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


@pytest.fixture
def folders(live):
    media = live.config.media
    return media.recordings_dir, media.snapshots_dir


async def _rescan(live):
    await live.tree.media_files.rescan()


@pytest_twisted.ensureDeferred
async def test_list_info_and_delete_real_files(live, folders):
    rec, snap = folders
    await _video(rec, "camera1000_2025-01-15_14-30-00.mp4", 3)
    _put(rec, "camera1000_2025-01-14_10-00-00.mkv", b"m" * 1000, age=DAY)
    _put(snap, "camera1000_2025-01-15_14-31-00.jpg", b"\xff\xd8jpeg\xff\xd9")
    (rec / ".parts").mkdir(exist_ok=True)
    _put(rec / ".parts", "camera1000_seg0.mp4", b"being written")
    (rec / ".camera1000_x.mp4.tmp").write_bytes(b"half")
    await _rescan(live)
    client = await live.authed_client("admin")
    listed = (await client.call("list_recordings"))["result"]
    assert [f["filename"] for f in listed["files"]] == [
        "camera1000_2025-01-15_14-30-00.mp4", "camera1000_2025-01-14_10-00-00.mkv"]
    assert listed["total"] == 2 and listed["files"][1]["file_size"] == 1000
    assert listed["files"][0]["download_url"] == "/files/recordings/camera1000_2025-01-15_14-30-00.mp4"
    info = (await client.call("get_recording_info", {"filename": "camera1000_2025-01-15_14-30-00.mp4"}))["result"]
    assert info["duration"] == 3, info  # ffprobe read the file
    assert info["file_size"] == (rec / "camera1000_2025-01-15_14-30-00.mp4").stat().st_size
    # a file that is not a video: no duration, still described
    broken = (await client.call("get_recording_info", {"filename": "camera1000_2025-01-14_10-00-00.mkv"}))["result"]
    assert broken["duration"] is None and broken["file_size"] == 1000
    snaps = (await client.call("list_snapshots"))["result"]
    assert snaps["total"] == 1 and snaps["files"][0]["file_size"] == 8
    for hidden in (".parts", ".camera1000_x.mp4.tmp"):
        assert (await client.call("get_recording_info", {"filename": hidden}))["error"]["code"] == -32010
    deleted = await client.call("delete_recording", {"filename": "camera1000_2025-01-14_10-00-00.mkv"})
    assert deleted["result"]["deleted"] is True
    assert not (rec / "camera1000_2025-01-14_10-00-00.mkv").exists()
    assert (await client.call("list_recordings"))["result"]["total"] == 1
    # a producer's file is listed as soon as it tells the index
    _put(snap, "garden.jpg", b"\xff\xd8g\xff\xd9")
    await live.tree.media_files.added("snapshots", "garden.jpg", "camera1000")
    assert (await client.call("list_snapshots"))["result"]["files"][0]["filename"] == "garden.jpg"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_download_with_ranges_types_and_head(live, folders):
    rec, snap = folders
    video = await _video(rec, "camera1000_clip.mp4", 2)
    body = video.read_bytes()
    jpeg = _put(snap, "camera1000_s.jpg", b"\xff\xd8" + bytes(range(256)) * 40 + b"\xff\xd9")
    _put(rec, "camera1000_other.mkv", b"matroska")
    headers = {"Authorization": [f"Bearer {live.token('viewer')}"]}
    r = await treq.get(f"{live.http}/files/recordings/camera1000_clip.mp4", headers=headers)
    assert r.code == 200
    assert r.headers.getRawHeaders("content-type") == ["video/mp4"]
    assert r.length == len(body)  # Twisted's client keeps Content-Length as .length
    assert r.headers.getRawHeaders("content-disposition")[0].startswith('attachment; filename="camera1000_clip.mp4"')
    assert r.headers.getRawHeaders("accept-ranges") == ["bytes"]
    assert await r.content() == body
    ranged = await treq.get(f"{live.http}/files/recordings/camera1000_clip.mp4",
                            headers=dict(headers, Range=["bytes=100-1099"]))
    assert ranged.code == 206
    assert ranged.headers.getRawHeaders("content-range") == [f"bytes 100-1099/{len(body)}"]
    assert await ranged.content() == body[100:1100]
    tail = await treq.get(f"{live.http}/files/recordings/camera1000_clip.mp4", headers=dict(headers, Range=["bytes=-10"]))
    assert tail.code == 206 and await tail.content() == body[-10:]
    past = await treq.get(f"{live.http}/files/recordings/camera1000_clip.mp4",
                          headers=dict(headers, Range=[f"bytes={len(body) + 10}-"]))
    assert past.code == 416
    await past.content()
    key = {"X-API-Key": [live.token("viewer")]}  # a JWT works in X-API-Key too
    s = await treq.get(f"{live.http}/files/snapshots/camera1000_s.jpg", headers=key)
    assert s.code == 200 and s.headers.getRawHeaders("content-type") == ["image/jpeg"]
    assert await s.content() == jpeg.read_bytes()
    m = await treq.get(f"{live.http}/files/recordings/camera1000_other.mkv", headers=headers)
    assert m.headers.getRawHeaders("content-type") == ["video/x-matroska"] and await m.content() == b"matroska"
    head = await treq.head(f"{live.http}/files/recordings/camera1000_clip.mp4", headers=headers)
    assert head.code == 200 and await head.content() == b""
    # on the wire: the headers as sent, HEAD without a body
    auth = f"Authorization: Bearer {live.token('viewer')}\r\n".encode()
    for method in (b"GET", b"HEAD"):
        raw = await _raw_request(live.port, method, b"/files/recordings/camera1000_clip.mp4", auth)
        head_part, _, rest = raw.partition(b"\r\n\r\n")
        assert b"\r\nContent-Length: %d\r\n" % len(body) in head_part
        assert b"\r\nContent-Disposition: attachment;" in head_part
        assert rest == (body if method == b"GET" else b"")
    # nothing stays held once the downloads are done
    assert not live.tree.media_files.held("recordings", "camera1000_clip.mp4")


@pytest_twisted.ensureDeferred
async def test_refusals(live, folders, log_events):
    rec, snap = folders
    _put(rec, "camera1000_a.mp4", b"a" * 100)
    (rec / ".parts").mkdir(exist_ok=True)
    _put(rec / ".parts", "camera1000_live.mp4", b"live")
    (rec / ".camera1000_b.mp4.tmp").write_bytes(b"half")
    (live.config.data_dir / "secret.txt").write_bytes(b"do not serve")
    audit = log_events("camservice.audit")
    url = f"{live.http}/files/recordings/camera1000_a.mp4"
    none = await treq.get(url)
    assert none.code == 401 and none.headers.getRawHeaders("www-authenticate") == ['Bearer realm="camservice"']
    await none.content()
    bad = await treq.get(url, headers={"Authorization": ["Bearer not-a-valid-token-at-all-0123456789abcdef"]})
    assert bad.code == 401
    await bad.content()
    expired = await treq.get(url, headers={"Authorization": [f"Bearer {live.token('viewer', ttl=-100)}"]})
    assert expired.code == 401
    await expired.content()
    viewer = {"Authorization": [f"Bearer {live.token('viewer')}"]}
    for missing in ("camera1000_none.mp4", ".camera1000_b.mp4.tmp", ".parts"):
        r = await treq.get(f"{live.http}/files/recordings/{missing}", headers=viewer)
        assert r.code == 404, missing
        await r.content()
    wrong_kind = await treq.get(f"{live.http}/files/snapshots/camera1000_a.mp4", headers=viewer)
    assert wrong_kind.code == 404
    await wrong_kind.content()
    post = await treq.post(url, headers=viewer, data=b"")
    assert post.code == 405
    await post.content()
    token = f"Authorization: Bearer {live.token('viewer')}\r\n".encode()
    for target in (b"/files/recordings/../../secret.txt", b"/files/recordings/..%2F..%2Fsecret.txt",
                   b"/files/recordings/%2e%2e", b"/files/recordings/.parts/camera1000_live.mp4",
                   b"/files/recordings/a%00b.mp4", b"/files/recordings/a%0Ab.mp4",
                   b"/files/recordings/" + b"x" * 300, b"/files/recordings/camera1000_a.mp4/x"):
        raw = await _raw_get(live.port, target, token)
        assert _status(raw) == 400, (target, raw[:200])
        assert b"do not serve" not in raw and b"live" not in raw.split(b"\r\n\r\n", 1)[-1]
    # without credentials, nothing is told about names either
    assert _status(await _raw_get(live.port, b"/files/recordings/..%2Fsecret.txt")) == 401
    refused = [e for e in audit if e.get("what") == "download"]
    assert {e["outcome"] for e in refused} >= {"failure", "refused"}
    assert all(e["audit"] is True for e in refused)


@pytest.fixture
def service_settings():
    return {"cameras": {"declared": [
        {"id": "camera1000", "kind": "virtual", "name": "Pattern", "resolution": "320x240", "fps": 10},
        {"id": "camera1001", "kind": "virtual", "name": "Other", "resolution": "320x240", "fps": 10},
    ]}}


@pytest_twisted.ensureDeferred
async def test_a_camera_limited_token_sees_and_downloads_only_its_cameras_files(live, folders):
    rec, snap = folders
    _put(rec, "camera1000_a.mp4", b"mine")
    _put(rec, "camera1001_b.mp4", b"theirs")
    _put(snap, "front-door.jpg", b"\xff\xd8theirs\xff\xd9")
    await _rescan(live)
    await live.tree.media_files.added("snapshots", "front-door.jpg", "camera1001")
    client = await live.authed_client("admin", cameras=["camera1000"])
    assert [f["filename"] for f in (await client.call("list_recordings"))["result"]["files"]] == ["camera1000_a.mp4"]
    assert (await client.call("list_snapshots"))["result"]["total"] == 0
    denied = await client.call("get_snapshot_info", {"filename": "front-door.jpg"})
    assert denied["error"]["code"] == -32002 and denied["error"]["data"]["camera"] == "camera1001"
    assert (await client.call("delete_recording", {"filename": "camera1001_b.mp4"}))["error"]["code"] == -32002
    assert (rec / "camera1001_b.mp4").exists()
    limited = {"Authorization": [f"Bearer {live.token('viewer', cameras=['camera1000'])}"]}
    mine = await treq.get(f"{live.http}/files/recordings/camera1000_a.mp4", headers=limited)
    assert mine.code == 200 and await mine.content() == b"mine"
    for path in ("recordings/camera1001_b.mp4", "snapshots/front-door.jpg"):
        theirs = await treq.get(f"{live.http}/files/{path}", headers=limited)
        assert theirs.code == 403, path
        assert b"theirs" not in await theirs.content()
    # the custom name's camera survives a restart of the index (its sidecar)
    assert "front-door.jpg" in (live.config.data_dir / "media-cameras.json").read_text()
    everyone = await live.authed_client("viewer")
    assert (await everyone.call("list_recordings"))["result"]["total"] == 2
    await client.close()
    await everyone.close()


@pytest_twisted.ensureDeferred
async def test_retention_by_age_and_size_never_a_held_file(live, folders, log_events):
    rec, snap = folders
    audit = log_events("camservice.audit")
    _put(rec, "camera1000_old.mp4", b"o" * 1000, age=10 * DAY)
    _put(snap, "camera1000_old.jpg", b"j" * 100, age=9 * DAY)
    _put(rec, "camera1000_held.mp4", b"h" * 1000, age=20 * DAY)
    _put(rec, "camera1000_new.mp4", b"n" * 1000, age=DAY)
    await _rescan(live)
    hold = live.tree.media_files.hold("recordings", "camera1000_held.mp4")
    client = await live.authed_client("admin")
    policy = await client.call("set_retention_policy", {"policy_type": "age", "enabled": False, "max_age_days": 5})
    assert policy["result"]["policy_type"] == "age" and policy["result"]["max_age_days"] == 5
    done = (await client.call("cleanup_old_files"))["result"]
    assert (done["cleanup_executed"], done["files_deleted"], done["space_freed"]) == (True, 2, 1100)
    assert sorted(p.name for p in rec.iterdir() if not p.name.startswith(".")) == [
        "camera1000_held.mp4", "camera1000_new.mp4"]
    assert not (snap / "camera1000_old.jpg").exists()
    deletions = [e for e in audit if e.get("what") == "retention.delete"]
    assert sorted(e["filename"] for e in deletions) == ["camera1000_old.jpg", "camera1000_old.mp4"]
    assert all(e["who"] == "tester" for e in deletions)
    # size: 2500 bytes there, 1500 allowed; the held (oldest) file stays, the next goes
    _put(rec, "camera1000_newer.mp4", b"x" * 500)
    await _rescan(live)
    await client.call("set_retention_policy", {"policy_type": "size", "enabled": False, "max_size_gb": 1.5e-6})
    done = (await client.call("cleanup_old_files"))["result"]
    assert done["files_deleted"] == 1 and "1 in use kept" in done["message"]
    assert sorted(p.name for p in rec.iterdir() if not p.name.startswith(".")) == [
        "camera1000_held.mp4", "camera1000_newer.mp4"]
    # let go: with 1,200 bytes allowed, the oldest file goes now
    hold()
    await client.call("set_retention_policy", {"policy_type": "size", "enabled": False, "max_size_gb": 1.2e-6})
    done = (await client.call("cleanup_old_files"))["result"]
    assert done["files_deleted"] == 1 and not (rec / "camera1000_held.mp4").exists()
    assert (rec / "camera1000_newer.mp4").exists()
    # the stored policy is what a restarted service starts with
    assert '"size"' in (live.config.data_dir / "retention.json").read_text()
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_page_of_a_thousand(live, folders):
    rec, _ = folders
    rec.mkdir(parents=True, exist_ok=True)
    base = time.time() - 2000
    for i in range(1500):
        path = rec / f"camera1000_{i:05d}.mp4"
        path.write_bytes(b"")
        os.utime(path, (base + i, base + i))
    await _rescan(live)
    client = await live.authed_client("viewer")
    page = (await client.call("list_recordings", {"limit": 1000, "offset": 100}))["result"]
    assert page["total"] == 1500 and len(page["files"]) == 1000
    assert page["files"][0]["filename"] == "camera1000_01399.mp4"
    assert page["files"][-1]["filename"] == "camera1000_00400.mp4"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_names_beyond_ascii_are_quoted_and_served(live, folders):
    _, snap = folders
    name = "camera1000_café ü#1.jpg"
    _put(snap, name, b"\xff\xd8caf\xc3\xa9\xff\xd9")
    client = await live.authed_client("viewer")
    info = (await client.call("get_snapshot_info", {"filename": name}))["result"]
    assert info["download_url"] == "/files/snapshots/camera1000_caf%C3%A9%20%C3%BC%231.jpg"
    r = await treq.get(live.http + info["download_url"], headers={"Authorization": [f"Bearer {live.token('viewer')}"]})
    assert r.code == 200 and await r.content() == b"\xff\xd8caf\xc3\xa9\xff\xd9"
    disposition = r.headers.getRawHeaders("content-disposition")[0]
    assert disposition == "attachment; filename=\"camera1000_caf_ _#1.jpg\"; filename*=UTF-8''camera1000_caf%C3%A9%20%C3%BC%231.jpg"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_file_being_downloaded_is_kept_from_retention(live, folders):
    rec, _ = folders
    big = rec / "camera1000_big.mp4"
    rec.mkdir(parents=True, exist_ok=True)
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: more than the socket buffers hold
    old = time.time() - 30 * DAY
    os.utime(big, (old, old))
    await _rescan(live)
    files = live.tree.media_files
    # a client that asks and then does not read: the download stays under way
    proto = _Raw()
    await TCP4ClientEndpoint(reactor, "127.0.0.1", live.port, timeout=5).connect(
        protocol.Factory.forProtocol(lambda: proto))
    proto.transport.pauseProducing()
    proto.transport.write(b"GET /files/recordings/camera1000_big.mp4 HTTP/1.1\r\nHost: x\r\n"
                          + f"X-API-Key: {live.token('viewer')}\r\n\r\n".encode())
    deadline = reactor.seconds() + 10
    while not files.held("recordings", "camera1000_big.mp4"):
        assert reactor.seconds() < deadline, "the download never started"
        await task.deferLater(reactor, 0.02, lambda: None)
    client = await live.authed_client("admin")
    await client.call("set_retention_policy", {"policy_type": "age", "enabled": False, "max_age_days": 1})
    done = (await client.call("cleanup_old_files"))["result"]
    assert done["files_deleted"] == 0 and "1 in use kept" in done["message"]
    assert big.exists()
    # the client goes away: the hold goes with it, and retention may act
    proto.transport.abortConnection()
    await proto.lost
    deadline = reactor.seconds() + 10
    while files.held("recordings", "camera1000_big.mp4"):
        assert reactor.seconds() < deadline, "the hold outlived the download"
        await task.deferLater(reactor, 0.02, lambda: None)
    done = (await client.call("cleanup_old_files"))["result"]
    assert done["files_deleted"] == 1 and not big.exists()
    await client.close()


@pytest_twisted.ensureDeferred
async def test_a_download_link_streams_one_file_with_ranges_for_five_minutes(live, folders):
    from twisted.internet.task import Clock

    from camservice.auth.roles import Role
    from camservice.media.file_tokens import FileTokens
    from camservice.streamauth.secrets import StreamSecrets, load_stream_key

    rec, snap = folders
    video = await _video(rec, "camera1000_clip.mp4", 2)
    body = video.read_bytes()
    _put(rec, "camera1000_other.mp4", b"other")
    await _rescan(live)
    client = await live.authed_client("viewer")
    result = (await client.call("get_download_url", {"filename": "camera1000_clip.mp4", "kind": "recordings"}))["result"]
    await client.close()
    link = f"{live.http}{result['url']}"
    whole = await treq.get(link)
    assert whole.code == 200 and await whole.content() == body
    assert whole.headers.getRawHeaders("content-disposition")[0].startswith('attachment; filename="camera1000_clip.mp4"')
    ranged = await treq.get(link, headers={"Range": ["bytes=100-1099"]})
    assert ranged.code == 206
    assert ranged.headers.getRawHeaders("content-range") == [f"bytes 100-1099/{len(body)}"]
    assert await ranged.content() == body[100:1100]
    token = result["url"].partition("?token=")[2]
    other = await treq.get(f"{live.http}/files/recordings/camera1000_other.mp4?token={token}")
    assert other.code == 403 and await other.content() == b"download token is for another file\n"
    parts = token.split(".")
    parts[2] = "admin"
    for refused, why in (
        (".".join(parts), b"download token is not valid\n"),
        (token[:-1] + ("0" if token[-1] != "0" else "1"), b"download token is not valid\n"),
        (live.token("viewer"), b"malformed download token\n"),  # a JWT is no download token
    ):
        r = await treq.get(f"{live.http}/files/recordings/camera1000_clip.mp4?token={refused}")
        assert r.code == 401 and await r.content() == why
        assert r.headers.getRawHeaders("www-authenticate") == ['Bearer realm="camservice"']
    # minted five minutes and a second ago: expired
    past = Clock()
    past.advance(time.time() - 301)
    stale, _ = FileTokens(StreamSecrets(load_stream_key(live.config.data_dir)), past).mint(
        "recordings", "camera1000_clip.mp4", "tester", Role.viewer)
    expired = await treq.get(f"{live.http}/files/recordings/camera1000_clip.mp4?token={stale}")
    assert expired.code == 401 and await expired.content() == b"download token expired\n"
    # a bad token learns nothing of names
    raw = await _raw_get(live.port, b"/files/recordings/..%2Fsecret.txt?token=" + ".".join(parts).encode())
    assert _status(raw) == 401


@pytest_twisted.ensureDeferred
async def test_a_download_link_dies_with_the_api_key_or_jwt_that_asked_for_it(live, folders):
    from camservice.auth.apikeys import ApiKeyStore
    from camservice.auth.roles import Role

    rec, _ = folders
    _put(rec, "camera1000_clip.mp4", b"clip bytes")
    await _rescan(live)
    ask = {"filename": "camera1000_clip.mp4", "kind": "recordings"}
    store = ApiKeyStore(live.config.auth.api_keys_file, reactor)
    key, entry = store.add(Role.viewer, name="kiosk")
    client = await live.connect()
    assert (await client.call("authenticate", {"auth_token": key}))["result"]["authenticated"] is True
    result = (await client.call("get_download_url", ask))["result"]
    await client.close()
    link = f"{live.http}{result['url']}"
    opened = await treq.get(link)
    assert opened.code == 200 and await opened.content() == b"clip bytes"
    # the key is revoked: the link it got is refused from then on
    assert store.revoke(entry.id)
    refused = await treq.get(link)
    assert refused.code == 401
    assert await refused.content() == b"the API key of this download link was revoked\n"
    # a JWT with a minute left (plus the clock-skew leeway it is still
    # accepted for) gets a link for that long, not five minutes
    client = await live.authed_client("viewer", ttl=60)
    short = (await client.call("get_download_url", ask))["result"]
    await client.close()
    lasts = 60 + live.config.auth.leeway
    assert lasts - 10 <= short["ttl"] <= lasts
    assert (await treq.get(f"{live.http}{short['url']}")).code == 200
