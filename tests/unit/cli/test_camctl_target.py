"""Which server and credential camctl uses: flags over the ``CAMCTL_*``
environment over the defaults; clear usage errors for what cannot work."""
from __future__ import annotations

from pathlib import Path

import pytest

from camservice.cli.exits import USAGE, CliError
from camservice.cli.target import resolve


def _resolve(url=None, token=None, api_key=None, ca=None, timeout=10.0, cert=None, key=None, **env):
    return resolve(url, token, api_key, ca, timeout, env, cert, key)


def test_defaults():
    target = _resolve()
    assert (target.url, target.host, target.port, target.secure) == ("ws://127.0.0.1:8002/ws", "127.0.0.1", 8002, False)
    assert target.credential is None and target.http_headers() == {}
    assert target.http_base == "http://127.0.0.1:8002"


def test_the_environment_and_flags_over_it():
    env = {"CAMCTL_URL": "wss://cams.example:9443/api/ws", "CAMCTL_TOKEN": "env.jwt.token", "CAMCTL_CA_FILE": "/ca.pem"}
    target = _resolve(**env)
    assert (target.host, target.port, target.secure, target.credential, target.credential_kind) == (
        "cams.example", 9443, True, "env.jwt.token", "token")
    assert target.ca_file == Path("/ca.pem")
    assert target.http_base == "https://cams.example:9443"
    assert target.http_headers() == {b"Authorization": [b"Bearer env.jwt.token"]}
    flagged = _resolve(url="ws://10.0.0.2/ws", api_key="k" * 32, **dict(env, CAMCTL_CA_FILE=""))
    assert (flagged.host, flagged.port, flagged.credential_kind) == ("10.0.0.2", 80, "api_key")
    # a credential flag replaces both variables
    assert flagged.http_headers() == {b"X-API-Key": [b"k" * 32]}
    assert _resolve(url="wss://h/ws").port == 443


def test_an_api_key_from_the_environment():
    target = _resolve(CAMCTL_API_KEY="csk_" + "a" * 40)
    assert target.credential_kind == "api_key" and target.credential == "csk_" + "a" * 40


def test_a_client_certificate():
    target = _resolve(url="wss://h/ws", cert="/me.pem")
    assert (target.client_cert, target.client_key, target.credential) == (Path("/me.pem"), None, None)
    env = _resolve(url="wss://h/ws", CAMCTL_CERT="/c.pem", CAMCTL_KEY="/k.pem")
    assert (env.client_cert, env.client_key) == (Path("/c.pem"), Path("/k.pem"))


def test_an_ipv6_url():
    target = _resolve(url="ws://[::1]:8002/ws")
    assert (target.host, target.port) == ("::1", 8002)
    assert target.http_base == "http://[::1]:8002"


@pytest.mark.parametrize("kwargs, says", [
    ({"url": "http://h:1/ws"}, "ws:// or wss://"),
    ({"url": "ws:///ws"}, "no host"),
    ({"url": "ws://h:99999/ws"}, "invalid URL"),
    ({"token": "a", "api_key": "b"}, "not both"),
    ({"CAMCTL_TOKEN": "a", "CAMCTL_API_KEY": "b"}, "not both"),
    ({"token": "  "}, "empty"),
    ({"ca": "/ca.pem"}, "for wss:// URLs"),
    ({"timeout": 0}, "more than 0"),
    ({"cert": "/c.pem"}, "for wss:// URLs"),
    ({"url": "wss://h/ws", "key": "/k.pem"}, "goes with --cert"),
])
def test_usage_errors(kwargs, says):
    with pytest.raises(CliError) as caught:
        _resolve(**kwargs)
    assert caught.value.exit_code == USAGE and says in caught.value.message
