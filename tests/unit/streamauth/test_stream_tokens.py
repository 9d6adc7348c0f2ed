"""Signed stream tokens on a Clock: bound to one camera, expiring, one per
camera per window."""
from __future__ import annotations

import pytest

from camservice.streamauth.secrets import StreamSecrets
from camservice.streamauth.tokens import StreamTokens, TokenRefused

KEY = bytes(range(32))
TTL = 600  # window: 150 s


@pytest.fixture
def tokens(clock):
    return StreamTokens(StreamSecrets(KEY), clock, TTL)


def test_a_token_opens_its_camera(tokens):
    tokens.check(tokens.read_token("camera1000"), "camera1000")


def test_a_token_for_one_camera_does_not_open_another(tokens):
    with pytest.raises(TokenRefused, match="not valid for this camera"):
        tokens.check(tokens.read_token("camera1000"), "camera1001")


def test_a_token_signed_with_another_key_is_refused(tokens, clock):
    other = StreamTokens(StreamSecrets(bytes(32)), clock, TTL)
    with pytest.raises(TokenRefused, match="not valid for this camera"):
        tokens.check(other.read_token("camera1000"), "camera1000")


def test_an_edited_expiry_is_refused(tokens):
    token = tokens.read_token("camera1000")
    expires = tokens.expires_at(token)
    with pytest.raises(TokenRefused, match="not valid for this camera"):
        tokens.check(token.replace(f"-{expires}-", f"-{expires + 86400}-"), "camera1000")


@pytest.mark.parametrize("token", ["", "s1-", "s1-123-abc", "s1-x-" + "0" * 32, "s1-123-" + "0" * 32 + "\n",
                                   "S1-123-" + "0" * 32, "eyJ.a.b"])
def test_malformed_tokens_are_refused(tokens, token):
    with pytest.raises(TokenRefused, match="malformed"):
        tokens.check(token, "camera1000")


def test_a_token_lives_at_least_the_ttl_and_at_most_a_window_more(tokens, clock):
    issued = clock.seconds()
    token = tokens.read_token("camera1000")
    expires = tokens.expires_at(token)
    assert issued + TTL <= expires <= issued + TTL + tokens.window_length
    clock.advance(expires - clock.seconds() - 0.001)
    tokens.check(token, "camera1000")  # just before: still good
    clock.advance(0.002)
    with pytest.raises(TokenRefused, match="expired"):
        tokens.check(token, "camera1000")


def test_every_caller_in_a_window_gets_the_same_token_and_the_next_window_a_new_one(tokens, clock):
    start = tokens.window()
    first = tokens.read_token("camera1000")
    while tokens.window() == start:
        assert tokens.read_token("camera1000") == first
        clock.advance(10)
    second = tokens.read_token("camera1000")
    assert second != first
    assert tokens.expires_at(second) == tokens.expires_at(first) + tokens.window_length
    tokens.check(first, "camera1000")  # the older token is still valid


def test_the_window_is_a_quarter_of_the_ttl_and_never_zero(clock):
    assert StreamTokens(StreamSecrets(KEY), clock, 3600).window_length == 900
    assert StreamTokens(StreamSecrets(KEY), clock, 2).window_length == 1


def test_derived_credentials_differ_by_purpose_and_camera():
    secrets = StreamSecrets(KEY)
    values = {secrets.publish_secret("camera1000"), secrets.publish_secret("camera1001"),
              secrets.internal_credential}
    assert len(values) == 3
    assert secrets.publish_secret("camera1000") == StreamSecrets(KEY).publish_secret("camera1000")  # stable


def test_a_new_ttl_applies_to_new_tokens_and_old_ones_keep_their_expiry(tokens, clock):
    old = tokens.read_token("camera1000")
    tokens.set_ttl(60)
    new = tokens.read_token("camera1000")
    assert new != old
    assert tokens.expires_at(new) - clock.seconds() <= 60 + 15
    assert tokens.expires_at(old) > tokens.expires_at(new)
    tokens.check(old, "camera1000")  # still valid
