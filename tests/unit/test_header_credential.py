"""One reading of the credential in an HTTP request's headers, shared by
/metrics, /files and the still-image endpoint."""
from __future__ import annotations

from twisted.web.test.requesthelper import DummyRequest

from camservice.server.credentials import header_credential


def request(**headers):
    r = DummyRequest([b""])
    for name, value in headers.items():
        r.requestHeaders.setRawHeaders(name.replace("_", "-").encode(), [value.encode()])
    return r


def test_bearer_of_any_case_and_api_key_first():
    assert header_credential(request(authorization="Bearer  abc ")) == "abc"
    assert header_credential(request(authorization="bearer abc")) == "abc"
    assert header_credential(request(x_api_key=" key1 ", authorization="Bearer jwt")) == "key1"


def test_other_schemes_and_no_header_give_nothing():
    assert header_credential(request(authorization="Basic dXNlcjpwYXNz")) == ""
    assert header_credential(request()) == ""
