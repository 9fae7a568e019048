"""Fetch an http(s) reference without letting it reach what it should not (SSRF).

Every hop (the first request and each redirect) resolves its host, refuses the request if any
address is not public (loopback, private, link-local such as 169.254.169.254, carrier-grade
NAT, multicast, reserved, unspecified, and the IPv4-mapped forms of those) unless an operator
allowed that network, and then connects to the address it checked, so a second DNS answer
cannot redirect it. TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urljoin, urlsplit

import urllib3

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.uris import parse_http

IPAddress = IPv4Address | IPv6Address
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
CHUNK = 64 * 1024


def _forbidden(message: str) -> ItemError:
    return ItemError(ItemErrorCode.FORBIDDEN_URI, message)


def allowed_address(address: IPAddress, allowed_networks: Sequence[str]) -> bool:
    """Public addresses, and addresses in a network the operator allowed."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in ip_network(net, strict=False) for net in allowed_networks):
        return True
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int, allowed_networks: Sequence[str]) -> IPAddress:
    """The address to connect to; forbidden_uri when any address of the host is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ItemError(ItemErrorCode.NOT_FOUND, f"host not found: {host}") from exc
    addresses = [ip_address(info[4][0]) for info in infos]
    refused = [str(a) for a in addresses if not allowed_address(a, allowed_networks)]
    if refused:
        raise _forbidden(f"{host} resolves to a non-public address ({refused[0]})")
    return addresses[0]


def fetch_http(
    uri: str, *, allowed_networks: Sequence[str], max_bytes: int, timeout_s: float
) -> bytes:
    """The body of an http(s) reference, following at most three redirects, each re-checked."""
    current = uri
    for _ in range(MAX_REDIRECTS + 1):
        response = _request(current, allowed_networks, timeout_s)
        try:
            if response.status in REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise ItemError(ItemErrorCode.FETCH_FAILED, "redirect without a Location")
                current = urljoin(current, location)
                if urlsplit(current).scheme.lower() not in {"http", "https"}:
                    raise _forbidden("redirect to a scheme other than http(s)")
                continue
            return _body(response, max_bytes)
        finally:
            response.release_conn()
    raise ItemError(ItemErrorCode.FETCH_FAILED, f"more than {MAX_REDIRECTS} redirects")


def _request(
    uri: str, allowed_networks: Sequence[str], timeout_s: float
) -> urllib3.BaseHTTPResponse:
    ref = parse_http(uri)
    parts = urlsplit(uri)
    port = parts.port or (443 if ref.scheme == "https" else 80)
    address = str(resolve(ref.bucket, port, allowed_networks))
    timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
    pool: urllib3.HTTPConnectionPool
    if ref.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            server_hostname=ref.bucket,
            assert_hostname=ref.bucket,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        return pool.urlopen(
            "GET",
            target,
            headers={"Host": parts.netloc, "User-Agent": "mmsearch", "Accept": "image/*"},
            redirect=False,
            retries=False,
            preload_content=False,
        )
    except urllib3.exceptions.HTTPError as exc:
        message = f"http request failed: {type(exc).__name__}"
        raise ItemError(ItemErrorCode.FETCH_FAILED, message) from exc


def _body(response: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
    if response.status == 404:
        raise ItemError(ItemErrorCode.NOT_FOUND, "the server answered 404")
    if response.status in (401, 403):
        raise ItemError(ItemErrorCode.ACCESS_DENIED, f"the server answered {response.status}")
    if response.status != 200:
        raise ItemError(ItemErrorCode.FETCH_FAILED, f"the server answered {response.status}")
    declared = int(response.headers.get("Content-Length") or 0)
    if declared > max_bytes:
        raise ItemError(ItemErrorCode.TOO_LARGE, f"{declared} bytes exceeds {max_bytes}")
    data = bytearray()
    for chunk in response.stream(CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise ItemError(ItemErrorCode.TOO_LARGE, f"body exceeds {max_bytes} bytes")
    return bytes(data)
