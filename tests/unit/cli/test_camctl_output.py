"""What camctl prints: aligned tables, ``key: value`` blocks, one JSON
document with ``--json``, and errors on stderr in both forms."""
from __future__ import annotations

import io
import json

from camservice.cli.output import Output, cell, fields, human_size, table


def test_tables_align_every_column_on_its_widest_cell():
    lines = table(("CAMERA", "STATUS", "NAME"), [("camera0", "CONNECTED", "Desk"), ("camera1000", "ERROR", None)])
    assert lines == [
        "CAMERA      STATUS     NAME",
        "camera0     CONNECTED  Desk",
        "camera1000  ERROR      -",
    ]


def test_cells_from_server_values():
    assert cell(None) == "-" and cell("") == "-"
    assert cell(True) == "yes" and cell(False) == "no"
    assert cell(["mp4", "mkv"]) == "mp4,mkv" and cell([]) == "-"
    assert cell(0) == "0"
    # names come from the server: no line breaks or escapes reach the terminal
    assert cell("evil\nname\x1b[2J") == "evil name [2J"


def test_fields_align_values():
    assert fields([("status", "ready"), ("cameras", ["camera0", "camera1"])]) == [
        "status:  ready",
        "cameras: camera0,camera1",
    ]


def test_human_sizes():
    assert [human_size(v) for v in (0, 1023, 1024, 1536, 10 * 1024 ** 2, 3 * 1024 ** 4, None, True)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "10.0 MiB", "3.0 TiB", "-", "-"]


def _output(json_mode):
    out, err = io.StringIO(), io.StringIO()
    return Output(out, err, json_mode), out, err


def test_json_mode_prints_one_document_and_nothing_else():
    output, out, err = _output(True)
    output.document({"cameras": [], "total": 0})
    output.table(("A",), [("x",)])
    output.line("for people")
    output.fields([("a", 1)])
    assert json.loads(out.getvalue()) == {"cameras": [], "total": 0}
    output.note("# a remark")
    assert err.getvalue() == "# a remark\n"


def test_human_mode_prints_no_json():
    output, out, _err = _output(False)
    output.document({"x": 1})
    output.table(("A", "B"), [], empty="nothing here")
    assert out.getvalue() == "nothing here\n"


def test_errors_on_stderr_as_a_line_or_as_json():
    output, out, err = _output(False)
    output.error("stop_recording: Invalid state", 6, {"code": -32020})
    assert err.getvalue() == "camctl: stop_recording: Invalid state\n" and out.getvalue() == ""
    output, out, err = _output(True)
    output.error("stop_recording: Invalid state", 6, {"code": -32020})
    assert json.loads(err.getvalue()) == {"error": {"message": "stop_recording: Invalid state", "exit_code": 6,
                                                    "code": -32020}}
    assert out.getvalue() == ""


def test_json_lines():
    output, out, _err = _output(True)
    output.json_line({"a": 1})
    output.json_line({"b": "é"})
    assert out.getvalue() == '{"a":1}\n{"b":"é"}\n'
