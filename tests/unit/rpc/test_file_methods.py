"""The file and storage methods through the dispatcher: results exactly
as API.md has them, params rules, roles and camera allow lists."""
from __future__ import annotations

import os

import pytest

from helpers.deferreds import outcome

MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture
def media(harness):
    rec = harness.config.media.recordings_dir
    snap = harness.config.media.snapshots_dir
    rec.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)

    def put(kind, name, size=10, mtime=MTIME):
        path = (rec if kind == "recordings" else snap) / name
        path.write_bytes(b"x" * size)
        os.utime(path, (mtime, mtime))
        return path

    def rescan():
        assert outcome(harness.tree.media_files.rescan()) is None

    return put, rescan


def test_list_recordings_result_and_pages(harness, media):
    put, rescan = media
    put("recordings", "camera1000_a.mp4", 100, MTIME)
    put("recordings", "camera1000_b c.mkv", 200, MTIME + 60)
    put("recordings", ".camera1000_c.mp4.tmp", 5)
    rescan()
    s = harness.session("viewer")
    reply = harness.call(s, "list_recordings")
    assert reply["result"] == {
        "files": [
            {"filename": "camera1000_b c.mkv", "file_size": 200, "modified_time": "2023-11-14T22:14:20Z",
             "download_url": "/files/recordings/camera1000_b%20c.mkv"},
            {"filename": "camera1000_a.mp4", "file_size": 100, "modified_time": "2023-11-14T22:13:20Z",
             "download_url": "/files/recordings/camera1000_a.mp4"},
        ],
        "total": 2, "limit": 50, "offset": 0,
    }
    page = harness.call(s, "list_recordings", {"limit": 1, "offset": 1})["result"]
    assert [f["filename"] for f in page["files"]] == ["camera1000_a.mp4"] and page["total"] == 2
    assert harness.call(s, "list_snapshots")["result"] == {"files": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize("params, param", [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": "5"}, "limit"),
    ({"offset": -1}, "offset"), ({"sort": "name"}, None),
])
def test_list_params_rules(harness, params, param):
    reply = harness.call(harness.session("viewer"), "list_recordings", params)
    assert reply["error"]["code"] == -32602, reply


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.mp4", "..", ".", "a\x00b", "", "x" * 256, "é" * 128])
def test_bad_file_names_are_invalid_params(harness, name):
    s = harness.session("admin")
    for method in ("get_recording_info", "get_snapshot_info", "delete_recording", "delete_snapshot"):
        reply = harness.call(s, method, {"filename": name})
        assert reply["error"]["code"] == -32602, (method, name, reply)
        assert reply["error"]["data"]["param"] == "filename"


def test_snapshot_info_and_delete(harness, media):
    put, rescan = media
    path = put("snapshots", "camera1000_s.jpg", 42)
    s = harness.session("admin")
    # not indexed yet (renamed in a moment ago): found all the same
    assert harness.call(s, "get_snapshot_info", {"filename": "camera1000_s.jpg"})["result"] == {
        "filename": "camera1000_s.jpg", "file_size": 42, "created_time": "2023-11-14T22:13:20Z",
        "download_url": "/files/snapshots/camera1000_s.jpg",
    }
    reply = harness.call(s, "delete_snapshot", {"filename": "camera1000_s.jpg"})
    assert reply["result"] == {"filename": "camera1000_s.jpg", "deleted": True,
                               "message": "snapshot camera1000_s.jpg deleted"}
    assert not path.exists()
    again = harness.call(s, "delete_snapshot", {"filename": "camera1000_s.jpg"})
    assert again["error"]["code"] == -32010
    assert again["error"]["data"] == {"resource": "snapshot", "id": "camera1000_s.jpg", "reason": "no such snapshot"}
    hidden = harness.call(s, "get_recording_info", {"filename": ".parts"})
    assert hidden["error"]["code"] == -32010


def test_delete_needs_admin_and_is_audited(harness, media, log_events):
    put, rescan = media
    path = put("recordings", "camera1000_a.mp4")
    audit = log_events("camservice.audit")
    reply = harness.call(harness.session("operator"), "delete_recording", {"filename": "camera1000_a.mp4"})
    assert reply["error"]["code"] == -32002 and path.exists()
    assert harness.call(harness.session("admin"), "delete_recording", {"filename": "camera1000_a.mp4"})["result"]["deleted"]
    done = [e for e in audit if e.get("what") == "delete_recording" and e.get("outcome") == "success"]
    assert done and done[0]["params"] == {"filename": "camera1000_a.mp4"}


def test_camera_allow_list_covers_list_info_and_delete(harness, media, log_events):
    put, rescan = media
    audit = log_events("camservice.audit")
    put("recordings", "camera1000_a.mp4", 1, MTIME)
    put("recordings", "camera7_b.mp4", 1, MTIME + 1)
    put("snapshots", "garden.jpg", 1, MTIME)
    rescan()
    outcome(harness.tree.media_files.added("snapshots", "garden.jpg", "camera7"))
    limited = harness.session("admin", cameras=["camera1000"])
    listed = harness.call(limited, "list_recordings")["result"]
    assert [f["filename"] for f in listed["files"]] == ["camera1000_a.mp4"] and listed["total"] == 1
    assert harness.call(limited, "list_snapshots")["result"]["total"] == 0
    for method, name in (("get_recording_info", "camera7_b.mp4"), ("delete_recording", "camera7_b.mp4"),
                         ("get_snapshot_info", "garden.jpg"), ("delete_snapshot", "garden.jpg")):
        reply = harness.call(limited, method, {"filename": name})
        assert reply["error"]["code"] == -32002, (method, reply)
        assert reply["error"]["data"]["camera"] == "camera7"
    assert (harness.config.media.recordings_dir / "camera7_b.mp4").exists()
    denials = [e for e in audit if e.get("outcome") == "denied"]
    assert denials and denials[0]["camera"] == "camera7" and denials[0]["what"] == "get_recording_info"
    everyone = harness.session("viewer")
    assert harness.call(everyone, "list_recordings")["result"]["total"] == 2


def test_storage_info_figures(harness, media):
    put, rescan = media
    put("recordings", "camera1000_a.mp4", 1000)
    put("snapshots", "camera1000_a.jpg", 10)
    rescan()
    info = harness.call(harness.session("admin"), "get_storage_info")["result"]
    assert set(info) == {"total_space", "used_space", "available_space", "usage_percentage",
                         "recordings_size", "snapshots_size", "low_space_warning"}
    assert (info["recordings_size"], info["snapshots_size"]) == (1000, 10)
    assert info["total_space"] > 0 and isinstance(info["low_space_warning"], bool)
    assert harness.call(harness.session("operator"), "get_storage_info")["error"]["code"] == -32002


def test_retention_policy_and_cleanup(harness, media):
    put, rescan = media
    old = put("recordings", "camera1000_old.mp4", 10, harness.clock.seconds() - 10 * 86400)
    new = put("recordings", "camera1000_new.mp4", 10, harness.clock.seconds() - 3600)
    rescan()
    s = harness.session("admin")
    reply = harness.call(s, "set_retention_policy", {"policy_type": "age", "enabled": False, "max_age_days": 2})
    assert reply["result"] == {"policy_type": "age", "enabled": False, "max_age_days": 2, "max_size_gb": 10,
                               "message": "retention policy stored: age limit applied by cleanup_old_files"}
    assert (harness.config.data_dir / "retention.json").exists()
    reply = harness.call(s, "cleanup_old_files")
    assert reply["result"] == {"cleanup_executed": True, "files_deleted": 1, "space_freed": 10,
                               "message": "1 files deleted, 10 bytes freed"}
    assert not old.exists() and new.exists()
    for bad in ({"policy_type": "forever", "enabled": True}, {"policy_type": "age"},
                {"policy_type": "age", "enabled": True, "max_age_days": 0},
                {"policy_type": "size", "enabled": True, "max_size_gb": -1}):
        assert harness.call(s, "set_retention_policy", bad)["error"]["code"] == -32602, bad


def test_get_download_url_is_a_short_lived_link_to_that_one_file(harness, media, log_events):
    from camservice.media.file_tokens import FileTokenRefused, FileTokens
    from camservice.streamauth.secrets import StreamSecrets, load_stream_key

    put, rescan = media
    audit = log_events("camservice.audit")
    put("recordings", "camera1000_a b.mp4", 10, MTIME)
    put("recordings", "camera7_b.mp4", 10, MTIME)
    put("snapshots", "camera1000_s.jpg", 10, MTIME)
    rescan()
    outcome(harness.tree.media_files.added("recordings", "camera7_b.mp4", "camera7"))
    viewer = harness.session("viewer")
    reply = harness.call(viewer, "get_download_url", {"filename": "camera1000_a b.mp4", "kind": "recordings"})
    result = reply["result"]
    assert set(result) == {"filename", "kind", "url", "expires_at", "ttl"}
    assert (result["filename"], result["kind"], result["ttl"]) == ("camera1000_a b.mp4", "recordings", 300)
    assert result["expires_at"] == "2023-11-14T22:18:20Z"  # the harness clock + 300 s
    path, _, query = result["url"].partition("?token=")
    assert path == "/files/recordings/camera1000_a%20b.mp4"
    tokens = FileTokens(StreamSecrets(load_stream_key(harness.config.data_dir)), harness.clock)
    holder = tokens.verify(query)
    tokens.check_file(holder, "recordings", "camera1000_a b.mp4")
    assert (holder.user_id, holder.role.name) == ("tester", "viewer")
    with pytest.raises(FileTokenRefused):
        tokens.check_file(holder, "snapshots", "camera1000_s.jpg")
    # the kind names the folder: a snapshot is not found among recordings
    missing = harness.call(viewer, "get_download_url", {"filename": "camera1000_s.jpg", "kind": "recordings"})
    assert missing["error"]["code"] == -32010, missing
    assert "result" in harness.call(viewer, "get_download_url", {"filename": "camera1000_s.jpg", "kind": "snapshots"})
    limited = harness.session("admin", cameras=["camera1000"])
    denied = harness.call(limited, "get_download_url", {"filename": "camera7_b.mp4", "kind": "recordings"})
    assert denied["error"]["code"] == -32002 and denied["error"]["data"]["camera"] == "camera7"
    assert [e for e in audit if e.get("outcome") == "denied" and e.get("what") == "get_download_url"]
    for params, param in (({"filename": "camera1000_s.jpg", "kind": "videos"}, "kind"),
                          ({"filename": "camera1000_s.jpg"}, "kind"), ({"kind": "snapshots"}, "filename"),
                          ({"filename": "../x.jpg", "kind": "snapshots"}, "filename")):
        bad = harness.call(viewer, "get_download_url", params)
        assert bad["error"]["code"] == -32602, (params, bad)
    assert harness.call(viewer, "get_server_info")["result"]["methods"]["get_download_url"] == "1.4"
