"""Which addresses an http(s) reference may reach: public ones, operator-allowed networks, and
IPv6 forms that carry an IPv4 address judged by that inner address."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from mmsearch.infra.media.addresses import allowed_address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",  # site-local, deprecated but still routed by some networks
        "ff0e::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not allowed_address(ip_address(address), [])


def test_public_and_operator_allowed_addresses_pass() -> None:
    assert allowed_address(ip_address("8.8.8.8"), [])
    assert allowed_address(ip_address("2606:4700:4700::1111"), [])
    assert allowed_address(ip_address("10.1.2.3"), ["10.1.2.0/24"])
    assert not allowed_address(ip_address("10.1.3.3"), ["10.1.2.0/24"])


# Each IPv6 form that carries an IPv4 address, written around an inner address.
EMBEDDINGS = {
    "ipv4-mapped": lambda v4: f"::ffff:{v4}",
    "ipv4-compatible": lambda v4: f"::{v4}",
    "ipv4-translated": lambda v4: f"::ffff:0:{v4}",
    "nat64": lambda v4: f"64:ff9b::{v4}",
    "nat64-local-use/96": lambda v4: f"64:ff9b:1:ab:cd:ef:{v4}",
    "nat64-local-use/64": lambda v4: local_use_64(v4),
    "6to4": lambda v4: sixtofour(v4),
    "teredo-server": lambda v4: teredo(server=v4, client="8.8.4.4"),
    "teredo-client": lambda v4: teredo(server="8.8.4.4", client=v4),
}
NON_PUBLIC = ["127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"]


def hex_groups(v4: str) -> tuple[int, int]:
    packed = int(ip_address(v4))
    return packed >> 16, packed & 0xFFFF


def sixtofour(v4: str) -> str:
    high, low = hex_groups(v4)
    return f"2002:{high:x}:{low:x}::1"


def teredo(*, server: str, client: str) -> str:
    s_high, s_low = hex_groups(server)
    c_high, c_low = hex_groups(client)
    return f"2001:0:{s_high:x}:{s_low:x}:8000:f227:{c_high ^ 0xFFFF:x}:{c_low ^ 0xFFFF:x}"


def local_use_64(v4: str) -> str:
    # RFC 6052 with a /64 prefix: the zero "u" octet, then the IPv4 address, then zeros; read
    # as a /96 prefix, the same address would carry a public 1.0.0.0 or 8.0.0.0.
    packed = ip_address(v4).packed
    return f"64:ff9b:1:0:{packed[0]:02x}:{packed[1]:02x}{packed[2]:02x}:{packed[3]:02x}00:0"


@pytest.mark.parametrize("inner", NON_PUBLIC)
@pytest.mark.parametrize("form", EMBEDDINGS)
def test_embedded_non_public_ipv4_is_refused(form: str, inner: str) -> None:
    address = ip_address(EMBEDDINGS[form](inner))
    assert not allowed_address(address, []), address


@pytest.mark.parametrize("form", EMBEDDINGS)
def test_embedded_public_ipv4_passes(form: str) -> None:
    address = ip_address(EMBEDDINGS[form]("8.8.8.8"))
    assert allowed_address(address, []), address


@pytest.mark.parametrize("form", EMBEDDINGS)
def test_embedded_ipv4_in_an_allowed_network_passes(form: str) -> None:
    address = ip_address(EMBEDDINGS[form]("10.1.2.3"))
    assert allowed_address(address, ["10.1.2.0/24"]), address
    assert not allowed_address(address, ["10.1.3.0/24"]), address
