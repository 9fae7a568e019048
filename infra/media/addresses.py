"""Which addresses an http(s) reference may reach (SSRF): public ones, and networks an operator
allowed. An IPv6 address that carries an IPv4 address (mapped, compatible, translated, NAT64,
6to4, Teredo) reaches that IPv4 host, so it is judged by the IPv4 address it carries."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_network

IPAddress = IPv4Address | IPv6Address

# Prefixes whose last 32 bits are the IPv4 address: IPv4-compatible (::/96), IPv4-translated
# (::ffff:0:0/96, SIIT) and the well-known NAT64 prefix (64:ff9b::/96, RFC 6052).
_LAST_32_BITS = (
    IPv6Network("::/96"),
    IPv6Network("::ffff:0:0:0/96"),
    IPv6Network("64:ff9b::/96"),
)
# The local-use NAT64 prefix (RFC 8215) may be cut into a /48, /56, /64 or /96 translator
# prefix, each placing the IPv4 bits elsewhere (RFC 6052): (IPv4 bit ranges, bits that must be
# zero). An address is judged by every placement it fits, since which one the network uses is
# unknown here.
_LOCAL_USE_NAT64 = IPv6Network("64:ff9b:1::/48")
_NAT64_LAYOUTS = (
    (((48, 16), (72, 16)), ((64, 8), (88, 40))),
    (((56, 8), (72, 24)), ((64, 8), (96, 32))),
    (((72, 32),), ((64, 8), (104, 24))),
    (((96, 32),), ()),
)


def _bits(value: int, start: int, length: int) -> int:
    """`length` bits of a 128-bit value, from bit `start` counted from the most significant."""
    return (value >> (128 - start - length)) & ((1 << length) - 1)


def _local_use_nat64(address: IPv6Address) -> list[IPv4Address]:
    value, carried = int(address), []
    for ranges, zeros in _NAT64_LAYOUTS:
        if any(_bits(value, start, length) for start, length in zeros):
            continue
        inner = 0
        for start, length in ranges:
            inner = (inner << length) | _bits(value, start, length)
        carried.append(IPv4Address(inner))
    return carried


def embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for a plain IPv6 address)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # the Teredo server, and the client it reaches
    if any(address in net for net in _LAST_32_BITS):
        return [IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in _LOCAL_USE_NAT64:
        return _local_use_nat64(address)
    return []


def _public(address: IPAddress) -> bool:
    if isinstance(address, IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not address.is_multicast


def allowed_address(address: IPAddress, allowed_networks: Sequence[str]) -> bool:
    """Public addresses, addresses in a network the operator allowed, and IPv6 addresses whose
    carried IPv4 addresses are all one of those."""
    networks = [ip_network(net, strict=False) for net in allowed_networks]

    def allowed(one: IPAddress) -> bool:
        return any(one in net for net in networks) or _public(one)

    carried = embedded_ipv4(address) if isinstance(address, IPv6Address) else []
    if carried and not any(address in net for net in networks):
        return all(allowed(inner) for inner in carried)
    return allowed(address)
