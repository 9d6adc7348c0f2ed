"""Download tokens: valid for one file and five minutes, naming whom they
were minted for; changed, expired and other files' tokens refused."""
from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from camservice.auth.roles import Role
from camservice.media.file_tokens import DOWNLOAD_TOKEN_TTL, FileTokenRefused, FileTokens
from camservice.media.still_tokens import StillTokens
from camservice.streamauth.secrets import StreamSecrets

NAME = "camera1000_2025-01-15_14-30-00.mp4"


@pytest.fixture
def clock():
    clock = Clock()
    clock.advance(1_700_000_000)
    return clock


@pytest.fixture
def tokens(clock):
    return FileTokens(StreamSecrets(bytes(range(32))), clock)


def test_a_token_opens_its_file_for_five_minutes_and_names_its_holder(tokens, clock):
    token, expires = tokens.mint("recordings", NAME, "key:ops", Role.operator)
    assert DOWNLOAD_TOKEN_TTL == 300 and expires == 1_700_000_300
    assert token.startswith("ft1.1700000300.operator.")
    holder = tokens.verify(token)
    assert (holder.user_id, holder.role) == ("key:ops", Role.operator)
    tokens.check_file(holder, "recordings", NAME)
    clock.advance(299.5)
    tokens.verify(token)
    clock.advance(0.5)  # the expiry itself is too late
    with pytest.raises(FileTokenRefused) as refused:
        tokens.verify(token)
    assert refused.value.reason == "download token expired"


def test_names_beyond_ascii_and_odd_user_ids_round_trip(tokens):
    token, _ = tokens.mint("snapshots", "Vordertür ✓.jpg", "ü/ser.with-dots", Role.viewer)
    holder = tokens.verify(token)
    tokens.check_file(holder, "snapshots", "Vordertür ✓.jpg")
    assert holder.user_id == "ü/ser.with-dots"


@pytest.mark.parametrize("kind, name", [
    ("recordings", "camera1000_other.mp4"), ("snapshots", NAME), ("recordings", NAME + "x"),
])
def test_a_token_for_another_file_is_refused_as_such(tokens, kind, name):
    token, _ = tokens.mint("recordings", NAME, "alice", Role.viewer)
    holder = tokens.verify(token)  # a valid token: only its file is wrong
    with pytest.raises(FileTokenRefused) as refused:
        tokens.check_file(holder, kind, name)
    assert refused.value.reason == "download token is for another file"


def _fields(token):
    return token.split(".")


@pytest.mark.parametrize("field, value", [
    (1, "1700009999"),  # a later expiry
    (2, "admin"),  # a higher role
    (3, "Ym9i"),  # another user ("bob")
    (4, "key_0badcafe"),  # an API key's link for a JWT's
    (5, "0" * 16),  # another file's tag
    (6, "0" * 32),  # another MAC
])
def test_a_changed_token_is_not_valid(tokens, field, value):
    token, _ = tokens.mint("recordings", NAME, "alice", Role.viewer)
    parts = _fields(token)
    assert parts[field] != value
    parts[field] = value
    with pytest.raises(FileTokenRefused) as refused:
        tokens.verify(".".join(parts))
    assert refused.value.reason == "download token is not valid"


@pytest.mark.parametrize("token", ["", "ft1", "ft1.1.viewer.YQ.0.0", "st1-1700000300-" + "0" * 32,
                                   "Bearer abc", "ft1.1700000300.viewer.YQ.-." + "0" * 16 + "." + "0" * 31,
                                   "ft1.1700000300.viewer.YQ." + "0" * 16 + "." + "0" * 32])
def test_malformed_tokens(tokens, token):
    with pytest.raises(FileTokenRefused, match="malformed"):
        tokens.verify(token)


def test_another_key_or_a_still_image_token_opens_nothing(tokens, clock):
    token, _ = tokens.mint("recordings", NAME, "alice", Role.viewer)
    other = FileTokens(StreamSecrets(bytes(32)), clock)
    with pytest.raises(FileTokenRefused, match="not valid"):
        other.verify(token)
    still, _ = StillTokens(StreamSecrets(bytes(range(32))), clock, 300).mint("camera1000")
    with pytest.raises(FileTokenRefused, match="malformed"):
        tokens.verify(still)


def test_a_token_names_the_api_key_it_was_minted_for(tokens):
    token, _ = tokens.mint("recordings", NAME, "key:key_0badcafe", Role.operator, key_id="key_0badcafe")
    assert tokens.verify(token).key_id == "key_0badcafe"
    jwt_token, _ = tokens.mint("recordings", NAME, "alice", Role.operator)
    assert tokens.verify(jwt_token).key_id is None and jwt_token.split(".")[4] == "-"


def test_a_link_never_outlives_the_credential_that_asked(tokens, clock):
    soon = clock.seconds() + 42.7
    token, expires = tokens.mint("recordings", NAME, "alice", Role.viewer, not_after=soon)
    assert expires == 1_700_000_042 and tokens.seconds_left(expires) == 42
    later, expires = tokens.mint("recordings", NAME, "alice", Role.viewer, not_after=clock.seconds() + 9999)
    assert tokens.seconds_left(expires) == DOWNLOAD_TOKEN_TTL
    clock.advance(42)
    with pytest.raises(FileTokenRefused, match="expired"):
        tokens.verify(token)
    assert tokens.seconds_left(1_700_000_042) == 0
