"""One reading of the credential in an HTTP request's headers, and one
check of it, shared by /metrics, /files and the still-image endpoint."""
from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.roles import Role
from camservice.auth.tokens import TokenAuthority
from camservice.server.credentials import HeaderRefusal, header_credential, header_principal


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


# -- header_principal: the one check of it ------------------------------------


@pytest.fixture
def authenticator(tmp_path):
    clock = Clock()
    clock.advance(1_700_000_000)
    return Authenticator(TokenAuthority("s" * 40, clock), ApiKeyStore(tmp_path / "keys.json", clock))


def bearer(authenticator, role: Role) -> str:
    return "Bearer " + authenticator.tokens.issue("alice", role, 60)


def test_no_header_credential_is_left_to_the_endpoint(authenticator):
    assert header_principal(request(), authenticator, Role.viewer) is None


def test_a_strong_enough_credential_names_its_holder(authenticator):
    principal = header_principal(request(authorization=bearer(authenticator, Role.operator)),
                                 authenticator, Role.viewer)
    assert (principal.user_id, principal.role) == ("alice", Role.operator)


def test_a_weaker_role_is_refused_with_403_and_who_asked(authenticator):
    with pytest.raises(HeaderRefusal) as refused:
        header_principal(request(authorization=bearer(authenticator, Role.operator)), authenticator, Role.admin)
    assert (refused.value.code, refused.value.reason, refused.value.user_id) == (403, "admin role required", "alice")


def test_a_credential_that_is_not_valid_is_refused_with_401(authenticator):
    with pytest.raises(HeaderRefusal) as refused:
        header_principal(request(x_api_key="csk_nothing"), authenticator, Role.viewer)
    assert refused.value.code == 401 and refused.value.user_id is None and refused.value.reason
