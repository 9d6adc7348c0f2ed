"""Exit codes: one per kind of failure, and every API error code, HTTP
status and close code mapped to the one its documentation says."""
from __future__ import annotations

import pytest

from camservice.cli import exits
from camservice.cli.client import ApiError, Closed


def test_the_codes_are_distinct_and_documented():
    codes = [code for code, _meaning in exits.TABLE]
    assert len(codes) == len(set(codes))
    assert codes == [0, 1, 2, 3, 4, 5, 6, 7, 8, 130]


@pytest.mark.parametrize("code, exit_code", [
    (-32001, exits.AUTH), (-32002, exits.AUTH), (-32010, exits.NOT_FOUND), (-32020, exits.INVALID_STATE),
    (-32030, exits.UNSUPPORTED), (-32601, exits.UNSUPPORTED), (-32602, exits.USAGE), (-32050, exits.DEPENDENCY),
    (-32040, exits.FAILED), (-32603, exits.FAILED), (-32600, exits.FAILED), (-32700, exits.FAILED),
    (-31999, exits.FAILED), ("-32001", exits.FAILED), (None, exits.FAILED),
])
def test_api_error_codes(code, exit_code):
    assert exits.for_rpc_error(code) == exit_code


def test_every_error_code_of_the_api_reference_is_mapped():
    from camservice.rpc import errors

    service_codes = {c.code for c in vars(errors).values() if isinstance(c, type) and isinstance(getattr(c, "code", None), int)}
    assert service_codes, "no error codes found in camservice.rpc.errors"
    assert len(service_codes) == 12
    assert {c for c in service_codes if exits.for_rpc_error(c) == exits.FAILED} == {-32700, -32600, -32603, -32040}


@pytest.mark.parametrize("status, exit_code", [
    (400, exits.USAGE), (401, exits.AUTH), (403, exits.AUTH), (404, exits.NOT_FOUND), (416, exits.INVALID_STATE),
    (500, exits.FAILED), (502, exits.CONNECTION), (503, exits.CONNECTION), (418, exits.FAILED),
])
def test_http_statuses(status, exit_code):
    assert exits.for_http_status(status) == exit_code


@pytest.mark.parametrize("code, exit_code", [
    (4001, exits.AUTH), (4002, exits.AUTH), (4003, exits.AUTH), (4004, exits.AUTH),
    (4005, exits.CONNECTION), (1001, exits.CONNECTION), (1006, exits.CONNECTION), (None, exits.CONNECTION),
])
def test_close_codes(code, exit_code):
    assert exits.for_close_code(code) == exit_code
    assert Closed("closed", code).exit_code == exit_code


def test_an_api_error_says_what_the_server_said():
    error = ApiError("stop_recording", {"code": -32020, "message": "Invalid state",
                                        "data": {"state": "not_recording", "reason": "the camera is not recording"}})
    assert error.exit_code == exits.INVALID_STATE
    assert error.message == "stop_recording: Invalid state: the camera is not recording"
    assert error.detail == {"code": -32020, "message": "Invalid state",
                            "data": {"state": "not_recording", "reason": "the camera is not recording"}}
    bare = ApiError("ping", {"code": -32603, "message": "Internal error", "data": None})
    assert bare.message == "ping: Internal error" and bare.data == {}
