"""camctl's command line: options before or after the subcommand, values
checked before anything connects, and usage errors that exit 2."""
from __future__ import annotations

import io

import pytest

from camservice.cli.args import TOPICS, build_parser, parse
from camservice.cli.main import run


def _usage(argv, capsys) -> str:
    assert run(argv, environ={}, stdout=io.StringIO(), stderr=io.StringIO()) == 2
    return capsys.readouterr().err  # argparse writes to the process's stderr


def test_connection_options_before_or_after_the_subcommand():
    before = parse(["--json", "--url", "ws://h:1/ws", "--timeout", "3", "cameras"])
    after = parse(["cameras", "--json", "--url", "ws://h:1/ws", "--timeout", "3"])
    assert vars(before) == vars(after)
    assert before.json is True and before.url == "ws://h:1/ws" and before.timeout == 3.0


def test_defaults_when_no_option_is_given():
    args = parse(["cameras"])
    assert (args.url, args.token, args.api_key, args.ca_file, args.timeout, args.json) == (None, None, None, None, 10.0, False)


def test_a_value_given_before_the_subcommand_is_not_reset_by_it():
    assert parse(["--token", "T", "status", "camera0"]).token == "T"
    assert parse(["--json", "watch"]).json is True


def test_subcommand_arguments():
    record = parse(["record", "camera0", "--duration", "30", "--format", "mkv"])
    assert (record.camera, record.duration, record.format) == ("camera0", 30, "mkv")
    files = parse(["files", "snapshots", "--limit", "10", "--offset", "5", "--all"])
    assert (files.kind, files.limit, files.offset, files.all) == ("snapshots", 10, 5, True)
    assert parse(["files"]).kind is None
    watch = parse(["watch", "camera.connected", "system.health", "--camera", "camera3", "--count", "2"])
    assert (watch.topics, watch.camera, watch.count) == (["camera.connected", "system.health"], "camera3", 2)
    assert parse(["watch"]).topics == []
    download = parse(["download", "clip.mp4", "-o", "/tmp/x.mp4", "--kind", "recordings", "--force"])
    assert (download.name, download.output, download.kind, download.force) == ("clip.mp4", "/tmp/x.mp4", "recordings", True)
    assert parse(["stream-url", "camera1", "--protocol", "webrtc"]).protocol == "webrtc"
    fleet = parse(["fleet", "--broker", "mqtt.lan:1884", "--prefix", "lab", "--username", "u",
                   "--password-file", "/p", "--ca-file", "/ca", "--settle", "0.2", "--json"])
    assert (fleet.broker, fleet.prefix, fleet.username, fleet.password_file, fleet.ca_file, fleet.settle, fleet.json) == (
        "mqtt.lan:1884", "lab", "u", "/p", "/ca", 0.2, True)
    assert parse(["fleet", "--broker", "b"]).prefix == "camservice"


@pytest.mark.parametrize("argv, says", [
    (["status", "cam1"], "not a camera id"),
    (["status", "camera1\n"], "not a camera id"),
    (["record", "camera0", "--duration", "0"], "1..86400"),
    (["record", "camera0", "--duration", "86401"], "1..86400"),
    (["record", "camera0", "--format", "avi"], "invalid choice"),
    (["files", "videos"], "invalid choice"),
    (["files", "--limit", "1001"], "1..1000"),
    (["files", "--offset", "-1"], "at least 0"),
    (["watch", "camera.plugged"], "not a topic"),
    (["watch", "--count", "0"], "at least 1"),
    (["download", "../etc/passwd"], "not a plain file name"),
    (["download", "a\x01b"], "not a plain file name"),
    (["download", "é" * 128], "at most 255 bytes"),
    (["snapshot"], "required"),
    (["cameras", "--timeout", "0"], "more than 0"),
    (["fleet"], "--broker"),
    (["completion", "zsh"], "invalid choice"),
    ([], "required"),
    (["dance"], "invalid choice"),
])
def test_usage_errors_exit_2_before_connecting(argv, says, capsys):
    assert says in _usage(argv, capsys)


def test_help_of_every_subcommand_exits_0_and_lists_the_exit_codes(capsys):
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for name in commands.choices:
        assert run([name, "--help"], environ={}) == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: camctl {name}")
        assert "exit codes:" in text
        assert ("CAMCTL_URL" in text) == (name != "fleet")
    assert run(["--help"], environ={}) == 0
    assert "130" in capsys.readouterr().out


def test_topics_are_the_apis():
    from camservice.events import TOPICS as SERVICE_TOPICS

    assert sorted(TOPICS) == sorted(SERVICE_TOPICS)
