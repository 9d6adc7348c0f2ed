"""TLS and client certificates on the API port, as a client meets them:
``wss://`` and ``https://`` with a CA made by the test, mTLS required,
and a client certificate mapped to a role."""
from __future__ import annotations

import json

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.web.client import Agent
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from helpers.certs import CertificateAuthority, client_tls_options

CA = CertificateAuthority()
OTHER_CA = CertificateAuthority("someone else's CA")
VIEWER = CA.issue("kiosk", ("kiosk.cameras.test",), client=True)
UNMAPPED = CA.issue("stranger", ("stranger.cameras.test",), client=True)
FOREIGN = OTHER_CA.issue("kiosk", ("kiosk.cameras.test",), client=True)


@pytest.fixture
def service_settings(tmp_path, request):
    cert, key = CA.server().write(tmp_path, "server")
    ca = tmp_path / "clients-ca.pem"
    ca.write_bytes(CA.cert_pem)
    mode = getattr(request, "param", "required")
    return {
        "server": {
            "tls": {
                "certificate": str(cert),
                "private_key": str(key),
                "client_certificates": mode,
                "client_ca": str(ca),
                "client_identities": [{"name": "kiosk.cameras.test", "role": "viewer", "cameras": ["camera1000"]}],
            }
        }
    }


@implementer(IPolicyForHTTPS)
class _TrustTestCA:
    def __init__(self, client=None):
        self._client = client

    def creatorForNetloc(self, hostname, port):
        return client_tls_options(CA.cert_pem, self._client)


def _ok(reply):
    assert "error" not in reply, reply
    return reply["result"]


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("service_settings", ["optional"], indirect=True)
async def test_wss_with_the_ca_and_https_on_the_same_port(live):
    client = await live.connect(tls=client_tls_options(CA.cert_pem))
    assert live.url.startswith("wss://")
    assert _ok(await client.call("ping")) == "pong"
    # no client certificate: the connection authenticates as usual
    assert (await client.call("get_camera_list"))["error"]["code"] == -32001
    _ok(await client.call("authenticate", {"auth_token": live.token("operator")}))
    assert _ok(await client.call("get_camera_list"))["total"] == 1
    http = treq.client.HTTPClient(Agent(reactor, contextFactory=_TrustTestCA()))
    response = await http.get(live.http + "/health/alive")
    assert response.code == 200
    assert json.loads(await response.content())["status"] == "alive"
    await client.close()


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("service_settings", ["optional"], indirect=True)
async def test_plain_websocket_to_the_tls_port_is_refused(live):
    from helpers.wsclient import connect

    with pytest.raises(ConnectionError):
        await connect(reactor, live.url.replace("wss:", "ws:"), live.port)
    # TLS clients are unaffected
    client = await live.connect(tls=client_tls_options(CA.cert_pem))
    assert _ok(await client.call("ping")) == "pong"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_mtls_required_refuses_a_client_without_a_certificate(live, log_events):
    with pytest.raises(Exception):
        await live.connect(tls=client_tls_options(CA.cert_pem))
    # nor one from another CA
    with pytest.raises(Exception):
        await live.connect(tls=client_tls_options(CA.cert_pem, FOREIGN))
    client = await live.connect(tls=client_tls_options(CA.cert_pem, VIEWER))
    assert _ok(await client.call("ping")) == "pong"
    await client.close()


@pytest_twisted.ensureDeferred
async def test_certificate_mapped_to_viewer_is_authenticated_and_cannot_operate(live, log_events):
    audit = log_events("camservice.audit")
    client = await live.connect(tls=client_tls_options(CA.cert_pem, VIEWER))
    # authenticated by the handshake: no authenticate call
    cameras = _ok(await client.call("get_camera_list"))
    assert [c["device"] for c in cameras["cameras"]] == ["camera1000"]
    denied = await client.call("start_streaming", {"device": "camera1000"})
    assert denied["error"]["code"] == -32002
    assert denied["error"]["data"] == {"required_role": "operator", "have_role": "viewer", "reason": "role too low"}
    logins = [e for e in audit if e.get("outcome") == "success" and e.get("auth_method") == "certificate"]
    assert logins and logins[0]["user_id"] == "cert:kiosk.cameras.test"
    assert logins[0]["credential_id"].startswith("sha256:")
    await client.close()


@pytest_twisted.ensureDeferred
async def test_unmapped_certificate_must_still_authenticate(live):
    client = await live.connect(tls=client_tls_options(CA.cert_pem, UNMAPPED))
    assert (await client.call("get_camera_list"))["error"]["code"] == -32001
    _ok(await client.call("authenticate", {"auth_token": live.token("admin")}))
    sessions = _ok(await client.call("list_sessions"))
    mine = [s for s in sessions["sessions"] if s["current"]]
    assert mine and mine[0]["tls"] is True and mine[0]["credential"]["kind"] == "jwt"
    await client.close()
