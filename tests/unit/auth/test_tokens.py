"""camservice.auth.tokens (JWTs) and camservice.auth.authenticator.

Time is the ``clock`` fixture (a ``Clock`` at NOW); boundaries are checked
0.01 s either side.
"""
from __future__ import annotations

import base64
import json

import jwt
import pytest

from camservice.auth.apikeys import ApiKeyStore
from camservice.auth.authenticator import Authenticator
from camservice.auth.errors import AuthenticationError
from camservice.auth.principal import Principal
from camservice.auth.roles import Role
from camservice.auth.tokens import TokenAuthority, looks_like_jwt

# 64 bytes: long enough that PyJWT does not warn even for HS512
SECRET = "s3cr3t-" + "k" * 57
OTHER_SECRET = "other-" + "q" * 58
LEEWAY = 10
TTL = 60


# -- helpers -----------------------------------------------------------------


def b64(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_made(header: dict, claims: dict, signature: str = "") -> str:
    return f"{b64(header)}.{b64(claims)}.{signature}"


DROP = object()  # claims_at(..., name=DROP) leaves the claim out


def claims_at(now: float, **changes) -> dict:
    claims = {"user_id": "alice", "role": "operator", "iat": int(now), "exp": int(now) + TTL}
    for name, value in changes.items():
        if value is DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims



def sign(claims: dict, secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def refused(authority, token) -> str:
    with pytest.raises(AuthenticationError) as info:
        authority.verify(token)
    return info.value.reason


@pytest.fixture
def authority(clock):
    return TokenAuthority(SECRET, clock, leeway=LEEWAY)


# -- issue and verify ------------------------------------------------------------


def test_round_trip(authority, clock):
    token = authority.issue("alice", Role.operator, TTL, cameras=["camera1001", "camera1000"])
    principal = authority.verify(token)
    assert principal == Principal(
        user_id="alice",
        role=Role.operator,
        expires_at=clock.seconds() + TTL + LEEWAY,  # accepted until exp + leeway
        cameras=frozenset({"camera1000", "camera1001"}),
        method="jwt",
        key_id=None,
    )


def test_issued_claims_and_header(authority, clock):
    token = authority.issue("bob", Role.admin, 3600, cameras=["camera1001", "camera1000"])
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    now = int(clock.seconds())
    assert claims == {
        "user_id": "bob",
        "role": "admin",
        "iat": now,
        "exp": now + 3600,
        "cameras": ["camera1000", "camera1001"],
    }


def test_token_without_camera_list_allows_every_camera(authority):
    token = authority.issue("alice", Role.viewer, TTL)
    assert "cameras" not in jwt.decode(token, options={"verify_signature": False})
    principal = authority.verify(token)
    assert principal.cameras is None
    assert principal.role is Role.viewer
    assert principal.may_use_camera("camera42")


def test_empty_camera_list_allows_no_camera(authority):
    principal = authority.verify(authority.issue("alice", Role.viewer, TTL, cameras=[]))
    assert principal.cameras == frozenset()
    assert not principal.may_use_camera("camera1000")


def test_tokens_from_another_authority_with_the_same_secret_verify(clock):
    token = TokenAuthority(SECRET, clock).issue("carol", Role.viewer, TTL)
    assert TokenAuthority(SECRET, clock, leeway=0).verify(token).user_id == "carol"


# -- time ------------------------------------------------------------------------


@pytest.mark.parametrize("leeway", [0, LEEWAY])
def test_expiry_boundary(clock, leeway):
    authority = TokenAuthority(SECRET, clock, leeway=leeway)
    token = authority.issue("alice", Role.operator, TTL)
    clock.advance(TTL + leeway - 0.01)
    assert authority.verify(token).user_id == "alice"
    clock.advance(0.02)
    assert refused(authority, token) == "token expired"


def test_long_expired_token(authority, clock):
    token = sign(claims_at(clock.seconds() - 7200, exp=int(clock.seconds()) - 3600))
    assert refused(authority, token) == "token expired"


def test_not_yet_valid_until_nbf_minus_leeway(authority, clock):
    nbf = int(clock.seconds()) + 30
    token = sign(claims_at(clock.seconds(), nbf=nbf, exp=nbf + TTL))
    assert refused(authority, token) == "token not yet valid"
    clock.advance(30 - LEEWAY - 0.01)
    assert refused(authority, token) == "token not yet valid"
    clock.advance(0.02)
    assert authority.verify(token).user_id == "alice"


def test_issued_in_the_future_until_iat_minus_leeway(authority, clock):
    iat = int(clock.seconds()) + 30
    token = sign(claims_at(clock.seconds(), iat=iat, exp=iat + TTL))
    assert refused(authority, token) == "token issued in the future"
    clock.advance(30 - LEEWAY - 0.01)
    assert refused(authority, token) == "token issued in the future"
    clock.advance(0.02)
    assert authority.verify(token).user_id == "alice"


def test_time_checks_use_the_injected_clock_not_the_wall_clock(clock):
    # a token that expired in 2023 is still good on a clock that says 2023
    authority = TokenAuthority(SECRET, clock)
    token = authority.issue("alice", Role.viewer, TTL)
    assert authority.verify(token).expires_at == clock.seconds() + TTL


# -- signature and algorithm -------------------------------------------------------


def test_wrong_secret(authority, clock):
    token = sign(claims_at(clock.seconds()), secret=OTHER_SECRET)
    assert refused(authority, token) == "token signature is invalid"


def test_tampered_claims_break_the_signature(authority, clock):
    header, _payload, signature = authority.issue("alice", Role.viewer, TTL).split(".")
    forged = f"{header}.{b64(claims_at(clock.seconds(), role='admin'))}.{signature}"
    assert refused(authority, forged) == "token signature is invalid"


def test_missing_signature(authority, clock):
    token = hand_made({"alg": "HS256", "typ": "JWT"}, claims_at(clock.seconds()))
    assert refused(authority, token) == "token signature is invalid"


def test_alg_none_is_refused(authority, clock):
    token = hand_made({"alg": "none", "typ": "JWT"}, claims_at(clock.seconds(), role="admin"))
    assert token.endswith(".")
    reason = refused(authority, token)
    assert reason.startswith("unsupported token algorithm")
    assert "none" in reason


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_same_secret_are_refused(authority, clock, algorithm):
    token = sign(claims_at(clock.seconds()), algorithm=algorithm)
    # correctly signed with our secret, yet not HS256
    jwt.decode(token, SECRET, algorithms=[algorithm], options={"verify_exp": False, "verify_iat": False})
    assert refused(authority, token) == f"unsupported token algorithm: {algorithm}"


def test_rs256_header_is_refused(authority, clock):
    token = hand_made({"alg": "RS256", "typ": "JWT"}, claims_at(clock.seconds()), b64(b"not-a-signature"))
    assert refused(authority, token) == "unsupported token algorithm: RS256"


def test_header_without_alg_is_refused(authority, clock):
    token = hand_made({"typ": "JWT"}, claims_at(clock.seconds()), b64(b"sig"))
    assert refused(authority, token).startswith("unsupported token algorithm")


def test_long_alg_is_cut_short_in_the_reason(authority, clock):
    token = hand_made({"alg": "X" * 500}, claims_at(clock.seconds()), b64(b"sig"))
    reason = refused(authority, token)
    assert reason == "unsupported token algorithm: " + "X" * 20


# -- claims ----------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "iat", "role"])
def test_missing_required_claim_is_named(authority, clock, claim):
    token = sign(claims_at(clock.seconds(), **{claim: DROP}))
    assert refused(authority, token) == f"token lacks the {claim} claim"


@pytest.mark.parametrize("role", ["root", "Admin", "", 3, None, ["admin"]])
def test_unknown_role(authority, clock, role):
    token = sign(claims_at(clock.seconds(), role=role))
    reason = refused(authority, token)
    # PyJWT treats a null claim as missing
    assert reason == ("token lacks the role claim" if role is None else "token names an unknown role")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", ["soon", "1700000060", True, [1700000060], {"t": 1}])
def test_non_numeric_time_claims(authority, clock, claim, value):
    token = sign(claims_at(clock.seconds(), **{claim: value}))
    assert refused(authority, token) == f"token claim {claim} is not a number"


def test_float_time_claims_are_fine(authority, clock):
    now = clock.seconds()
    token = sign(claims_at(now, iat=now - 0.5, exp=now + 30.5, nbf=now - 0.5))
    assert authority.verify(token).expires_at == now + 30.5 + LEEWAY


@pytest.mark.parametrize("exp", [float("nan"), float("inf")])
def test_non_finite_exp_is_refused(authority, clock, exp):
    token = sign(claims_at(clock.seconds(), exp=exp))
    assert refused(authority, token) == "token claim exp is not a number"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "abc.def",
        "a.b.c",
        "a.b.c.d",
        "...",
        "eyJ.eyJ.x",
        b64([1, 2]) + "." + b64({"role": "admin"}) + ".sig",  # header is not an object
        b64(b"\xff\xfe") + "." + b64({"role": "admin"}) + ".sig",  # header is not JSON
    ],
)
def test_malformed_strings(authority, token):
    assert refused(authority, token) == "malformed token"


def test_user_id_falls_back_to_sub(authority, clock):
    token = sign(claims_at(clock.seconds(), user_id=DROP, sub="sub-alice"))
    assert authority.verify(token).user_id == "sub-alice"


def test_user_id_wins_over_sub(authority, clock):
    token = sign(claims_at(clock.seconds(), sub="sub-alice"))
    assert authority.verify(token).user_id == "alice"


@pytest.mark.parametrize("changes", [{"user_id": DROP}, {"user_id": ""}, {"user_id": 7}, {"user_id": DROP, "sub": ""}])
def test_missing_or_bad_user_id(authority, clock, changes):
    token = sign(claims_at(clock.seconds(), **changes))
    assert refused(authority, token) == "token lacks the user_id claim"


def test_non_string_sub_is_refused(authority, clock):
    # PyJWT >= 2.10 checks sub itself ("malformed token"); older ones leave it to us
    token = sign(claims_at(clock.seconds(), user_id=DROP, sub=42))
    assert refused(authority, token) in ("malformed token", "token lacks the user_id claim")


@pytest.mark.parametrize(
    "cameras",
    ["camera1000", ["cam1"], [1000], ["camera1000", None], ["camera1000", "camera1000x"], {"camera1000": True}, [" camera1"]],
)
def test_bad_cameras_claim(authority, clock, cameras):
    token = sign(claims_at(clock.seconds(), cameras=cameras))
    assert refused(authority, token) == "token claim cameras is not a list of camera ids"


def test_null_cameras_claim_means_all_cameras(authority, clock):
    token = sign(claims_at(clock.seconds(), cameras=None))
    assert authority.verify(token).cameras is None


# -- looks_like_jwt and Authenticator ------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("a.b.c", True), ("a..", True), ("csk_abc-DEF_123", False), ("a.b", False), ("a.b.c.d", False), ("a b.c.d", False), (".b.c", False)],
)
def test_looks_like_jwt(text, expected):
    assert looks_like_jwt(text) is expected


@pytest.fixture
def store(tmp_path, clock):
    return ApiKeyStore(tmp_path / "api-keys.json", clock)


@pytest.fixture
def authenticator(authority, store):
    return Authenticator(authority, store)


def test_authenticator_sends_jwts_to_the_token_authority(authenticator, authority):
    principal = authenticator.authenticate(authority.issue("alice", Role.admin, TTL))
    assert (principal.method, principal.user_id, principal.role) == ("jwt", "alice", Role.admin)


def test_authenticator_sends_other_strings_to_the_key_store(authenticator, store):
    key, entry = store.add(Role.operator, "ci")
    principal = authenticator.authenticate(key)
    assert (principal.method, principal.key_id, principal.role) == ("api_key", entry.id, Role.operator)


def test_authenticator_reasons_show_where_a_credential_went(authenticator):
    assert _reason(authenticator, "aaaa.bbbb.cccc") == "malformed token"
    assert _reason(authenticator, "csk_" + "x" * 43) == "unknown API key"


@pytest.mark.parametrize("credential", [None, "", 42, b"a.b.c", ["a.b.c"], {"token": "x"}])
def test_authenticator_missing_credential(authenticator, credential):
    assert _reason(authenticator, credential) == "missing token"


def test_authenticator_size_limit(authenticator, authority):
    assert _reason(authenticator, "k" * 8193) == "token too long"
    # JWT-shaped or not, the limit comes first
    assert _reason(authenticator, authority.issue("a", Role.viewer, TTL) + "x" * 8192) == "token too long"
    # 8192 is still looked at
    assert _reason(authenticator, "k" * 8192) == "unknown API key"


def test_a_key_that_would_be_read_as_a_jwt_cannot_be_imported(authenticator, store):
    key = "imported-key-part1.imported-key-part2.part3"
    assert looks_like_jwt(key) and len(key) >= 32
    with pytest.raises(ValueError, match="must not look like a JWT"):
        store.add(Role.viewer, "imported", key=key)
    assert store.keys() == ()


def _reason(authenticator, credential) -> str:
    with pytest.raises(AuthenticationError) as info:
        authenticator.authenticate(credential)
    return info.value.reason
