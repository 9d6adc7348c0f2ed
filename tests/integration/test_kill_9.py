"""``kill -9`` of a real ``twistd camservice`` while a stream runs: no
MediaMTX or FFmpeg child of that run survives, and the next start on the
same ports succeeds."""
from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

from camservice.children import process_identity
from helpers.processes import free_port, media_port_env, process_table, run, start_twistd, wait_for_http
from helpers.waiting import until
from helpers.wsclient import connect

ADMIN = [sys.executable, "-m", "camservice.admin"]


def _env(tmp_path, port):
    env = {
        "CAMSERVICE_DATA_DIR": str(tmp_path / "state"),
        "CAMSERVICE_SERVER__PORT": str(port),
        "CAMSERVICE_SERVER__SHUTDOWN_TIMEOUT": "2",
        "CAMSERVICE_DISCOVERY__MODE": "disabled",
        "CAMSERVICE_MEDIAMTX__RESTART_MIN_DELAY": "0.5",
    }
    env.update(media_port_env())
    return env


def _children() -> dict[int, int]:
    """pid -> parent pid of every process we can read."""
    return {pid: ppid for pid, (ppid, _) in process_table().items()}


def _descendants(root: int) -> dict[int, tuple[int, str]]:
    """pid -> identity of every live descendant of ``root``."""
    parents = _children()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                identity = process_identity(pid)
                if identity is not None:
                    found[pid] = identity
                    frontier.append(pid)
    return found


#: this file's conditions take up to 20 s unless a call says otherwise
_until = functools.partial(until, timeout=20.0)


async def _start_streaming(reactor, env, port):
    code, out, err = await run(reactor, ADMIN + ["token", "--role", "operator"], env=env)
    assert code == 0, err
    client = await connect(reactor, f"ws://127.0.0.1:{port}/ws", port)
    assert "result" in await client.call("authenticate", {"auth_token": out.strip().splitlines()[-1]})
    started = await client.call("start_streaming", {"device": "camera1000"})
    assert started["result"]["status"] == "STARTED", started
    return client


@pytest_twisted.ensureDeferred
async def test_kill_9_leaves_no_child_and_the_next_start_succeeds(tmp_path, clean_env):
    port = free_port()
    env = _env(tmp_path, port)
    first = start_twistd(reactor, env=env)
    second = None
    try:
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", first)
        client = await _start_streaming(reactor, env, port)

        def tree_is_up():
            found = _descendants(first.pid)
            exes = sorted(os.path.basename(exe) for _, exe in found.values())
            # MediaMTX, its FFmpeg source and camservice's keep-alive reader
            return found if "mediamtx" in exes and exes.count("ffmpeg") >= 2 else None

        children = await _until(tree_is_up)
        ledger = json.loads((Path(env["CAMSERVICE_DATA_DIR"]) / "children.json").read_text())
        assert {os.path.basename(e["exe"]) for e in ledger.values()} == {"mediamtx", "ffmpeg"}

        os.kill(first.pid, signal.SIGKILL)
        assert await first.ended == -signal.SIGKILL
        await client.closed

        def all_gone():
            return all(process_identity(pid) != identity for pid, identity in children.items())

        await _until(all_gone, timeout=5.0)

        second = start_twistd(reactor, env=env)
        await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/alive", second)
        client = await _start_streaming(reactor, env, port)
        await _until(lambda: "mediamtx" in [os.path.basename(e) for _, e in _descendants(second.pid).values()])
        ready = await wait_for_http(reactor, f"http://127.0.0.1:{port}/health/ready", second)
        await client.close()
        assert await second.stop() == 0, second.stdout + second.stderr
        assert "address already in use" not in second.stdout.lower()
    finally:
        await first.stop()
        if second is not None:
            await second.stop()
    assert ready.code == 200, await ready.text()
