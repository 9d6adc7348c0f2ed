"""The API port's address rules: CIDR allow list and the cap per address."""
from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address, UNIXAddress

from camservice.security.networks import AddressGate, NetworkAllowList, client_ip


def test_empty_allow_list_admits_everyone():
    allow = NetworkAllowList()
    assert not allow.restricted
    assert allow.allows("203.0.113.9") and allow.allows(None)


@pytest.mark.parametrize(
    "host, allowed",
    [
        ("192.168.1.20", True),
        ("192.168.2.20", False),
        ("127.0.0.1", True),
        ("127.0.0.2", False),
        ("::1", True),
        ("::ffff:192.168.1.7", True),  # IPv4-mapped: checked as the IPv4 address
        ("fe80::1%eth0", False),
        ("not-an-address", False),
        (None, False),
    ],
)
def test_allow_list_matches_networks_and_single_addresses(host, allowed):
    allow = NetworkAllowList(["192.168.1.0/24", "127.0.0.1", "::1/128"])
    assert allow.allows(host) is allowed


def test_allow_list_refuses_text_that_is_no_network():
    with pytest.raises(ValueError):
        NetworkAllowList(["10.0.0.0/33"])


def test_gate_caps_connections_per_address_and_frees_slots():
    gate = AddressGate(NetworkAllowList(), per_address=2)
    assert gate.admit("10.0.0.1") == gate.ADMITTED
    assert gate.admit("10.0.0.1") == gate.ADMITTED
    assert gate.admit("10.0.0.1") == gate.TOO_MANY
    # another address has its own count
    assert gate.admit("10.0.0.2") == gate.ADMITTED
    gate.release("10.0.0.1")
    assert gate.open_from("10.0.0.1") == 1
    assert gate.admit("10.0.0.1") == gate.ADMITTED
    gate.release("10.0.0.1")
    gate.release("10.0.0.1")
    assert gate.open_from("10.0.0.1") == 0


def test_gate_refuses_addresses_off_the_list_without_counting_them():
    gate = AddressGate(NetworkAllowList(["10.0.0.0/8"]), per_address=1)
    assert gate.admit("192.0.2.1") == gate.NOT_ALLOWED
    assert gate.open_from("192.0.2.1") == 0


def test_client_ip_of_twisted_addresses():
    assert client_ip(IPv4Address("TCP", "127.0.0.2", 4000)) == "127.0.0.2"
    assert client_ip(UNIXAddress(b"/tmp/sock")) is None
