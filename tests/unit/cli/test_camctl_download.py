"""Downloads as camctl makes them, from a twisted.web server on loopback:
the credential header, Range resumes, servers that ignore ranges,
transfers that break off, refusals, and the final rename."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.web import resource, server, static

from camservice.cli import exits
from camservice.cli.download import download, file_path, kind_of, part_path
from camservice.cli.exits import CliError
from camservice.cli.target import resolve

DATA = bytes(range(256)) * 400  # 100 KiB


class _Files(resource.Resource):
    """``/files/recordings/<name>`` with a bearer token, like camservice's."""

    isLeaf = True

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        self.ranges: list = []
        self.stalled: list = []

    def render_GET(self, request):
        if request.getHeader(b"authorization") != b"Bearer good.token.here":
            request.setResponseCode(401)
            return b"authentication required\n"
        self.ranges.append(request.getHeader(b"range"))
        name = request.postpath[-1].decode()
        if name == "norange.mp4":  # a server that ignores Range
            request.setHeader(b"content-length", str(len(DATA)).encode())
            return DATA
        if name == "broken.mp4":  # promises everything, sends half, hangs up
            request.setHeader(b"content-length", str(len(DATA)).encode())
            request.write(DATA[: len(DATA) // 2])
            request.transport.loseConnection()
            return server.NOT_DONE_YET
        if name == "stall.mp4":  # sends half, then nothing
            request.setHeader(b"content-length", str(len(DATA)).encode())
            request.write(DATA[: len(DATA) // 2])
            self.stalled.append(request)
            return server.NOT_DONE_YET
        path = self.folder / name
        if not path.exists():
            request.setResponseCode(404)
            return b"no such file\n"
        return static.File(str(path)).render_GET(request)


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(DATA)
    root = resource.Resource()
    files_resource = _Files(folder)
    root.putChild(b"files", files_resource)
    port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")
    files_resource.port = port.getHost().port
    yield files_resource
    pytest_twisted.blockon(port.stopListening())


def _target(files, token="good.token.here"):
    return resolve(f"ws://127.0.0.1:{files.port}/ws", token, None, None, 5.0, {})


async def _get(files, name, dest: Path, token="good.token.here", force=False):
    return await download(reactor, _target(files, token), file_path("recordings", name), dest, io.StringIO(), force)


@pytest_twisted.ensureDeferred
async def test_a_download_is_renamed_into_place_once_complete(files, tmp_path):
    dest = tmp_path / "clip.mp4"
    got = await _get(files, "clip.mp4", dest)
    assert got == {"path": str(dest), "bytes": len(DATA), "resumed_from": 0}
    assert dest.read_bytes() == DATA and not part_path(dest).exists()
    assert files.ranges == [None]


@pytest_twisted.ensureDeferred
async def test_a_partial_file_is_resumed_with_range(files, tmp_path):
    dest = tmp_path / "clip.mp4"
    part_path(dest).write_bytes(DATA[:1000])
    got = await _get(files, "clip.mp4", dest)
    assert got["resumed_from"] == 1000 and dest.read_bytes() == DATA
    assert files.ranges == [b"bytes=1000-"]


@pytest_twisted.ensureDeferred
async def test_a_server_that_ignores_range_sends_everything_again(files, tmp_path):
    dest = tmp_path / "norange.mp4"
    part_path(dest).write_bytes(b"x" * 1000)
    got = await _get(files, "norange.mp4", dest)
    assert got["resumed_from"] == 0 and dest.read_bytes() == DATA


@pytest_twisted.ensureDeferred
async def test_a_broken_transfer_keeps_the_part_for_the_next_run(files, tmp_path):
    dest = tmp_path / "clip.mp4"
    with pytest.raises(CliError) as caught:
        await _get(files, "broken.mp4", dest)
    assert caught.value.exit_code == exits.CONNECTION and "resume" in caught.value.message
    assert not dest.exists()
    kept = part_path(tmp_path / "broken.mp4")
    assert not kept.exists()  # it was written under the name asked for
    assert part_path(dest).read_bytes() == DATA[: len(DATA) // 2]
    # the next run (the real file this time) goes on from there
    got = await _get(files, "clip.mp4", dest)
    assert got["resumed_from"] == len(DATA) // 2 and dest.read_bytes() == DATA


@pytest_twisted.ensureDeferred
async def test_an_interrupted_download_keeps_the_part(files, tmp_path):
    from twisted.internet import defer, task

    dest = tmp_path / "clip.mp4"
    running = defer.ensureDeferred(_get(files, "stall.mp4", dest))
    for _ in range(200):
        if part_path(dest).exists() and part_path(dest).stat().st_size == len(DATA) // 2:
            break
        await task.deferLater(reactor, 0.02, lambda: None)
    running.cancel()  # what Ctrl-C does
    with pytest.raises(defer.CancelledError):
        await running
    files.stalled[0].transport.loseConnection()
    assert part_path(dest).read_bytes() == DATA[: len(DATA) // 2] and not dest.exists()
    got = await _get(files, "clip.mp4", dest)
    assert got["resumed_from"] == len(DATA) // 2 and dest.read_bytes() == DATA


@pytest_twisted.ensureDeferred
async def test_refusals_and_an_existing_file(files, tmp_path):
    with pytest.raises(CliError) as caught:
        await _get(files, "clip.mp4", tmp_path / "a.mp4", token="wrong")
    assert caught.value.exit_code == exits.AUTH and "HTTP 401: authentication required" in caught.value.message
    with pytest.raises(CliError) as caught:
        await _get(files, "nothing.mp4", tmp_path / "b.mp4")
    assert caught.value.exit_code == exits.NOT_FOUND and caught.value.detail == {"http_status": 404}
    assert list(tmp_path.glob("*.part")) == []
    dest = tmp_path / "c.mp4"
    dest.write_bytes(b"mine")
    with pytest.raises(CliError) as caught:
        await _get(files, "clip.mp4", dest)
    assert caught.value.exit_code == exits.FAILED and dest.read_bytes() == b"mine"
    await _get(files, "clip.mp4", dest, force=True)
    assert dest.read_bytes() == DATA


@pytest_twisted.ensureDeferred
async def test_nothing_listens(tmp_path):
    from helpers.processes import free_port

    target = resolve(f"ws://127.0.0.1:{free_port()}/ws", "t", None, None, 5.0, {})
    with pytest.raises(CliError) as caught:
        await download(reactor, target, "/files/recordings/x.mp4", tmp_path / "x.mp4", io.StringIO())
    assert caught.value.exit_code == exits.CONNECTION


def test_names_kinds_and_paths():
    assert kind_of("a.JPG") == kind_of("b.jpeg") == "snapshots"
    assert kind_of("c.mp4") == kind_of("d.mkv") == kind_of("e") == "recordings"
    assert kind_of("f.jpg", "recordings") == "recordings"
    assert file_path("snapshots", "front door#1.jpg") == "/files/snapshots/front%20door%231.jpg"
    assert part_path(Path("/x/clip.mp4")) == Path("/x/clip.mp4.part")
