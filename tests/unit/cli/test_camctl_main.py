"""camctl's entry point before any connection: usage errors found after
parsing exit 2 with one line (or a JSON object) on stderr."""
from __future__ import annotations

import io
import json

from camservice.cli.main import run


def _run(argv, environ=None):
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, environ=environ or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_bad_url_from_the_environment():
    code, out, err = _run(["cameras"], {"CAMCTL_URL": "http://127.0.0.1:8002/ws"})
    assert (code, out) == (2, "")
    assert err == "camctl: invalid URL 'http://127.0.0.1:8002/ws': the scheme must be ws:// or wss://\n"


def test_the_error_as_json():
    code, out, err = _run(["cameras", "--json", "--token", "a", "--api-key", "b"])
    assert (code, out) == (2, "")
    error = json.loads(err)["error"]
    assert error["exit_code"] == 2 and "not both" in error["message"]


def test_fleet_usage_errors():
    code, _out, err = _run(["fleet", "--broker", "127.0.0.1", "--password-file", "/p"])
    assert code == 2 and "--password-file needs --username" in err
    code, _out, err = _run(["fleet", "--broker", "127.0.0.1", "--ca-file", "/no/such/ca.pem"])
    assert code == 2 and "CA file" in err
