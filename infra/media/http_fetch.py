"""Fetch an http(s) reference without letting it reach what it should not (SSRF), nor hold the
caller longer than its timeout.

Every hop (the first request and each redirect) resolves its host, refuses the request if any
address is not allowed (mmsearch.infra.media.addresses: loopback, private, link-local such as
169.254.169.254, and IPv6 forms carrying such an IPv4 address, unless an operator allowed that
network), and then connects to the address it checked, so a second DNS answer cannot redirect
it. TLS still verifies the certificate against the host name. One deadline covers the whole
fetch (connections, redirects, headers and body): a server that trickles bytes is cut off when
it passes.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from ipaddress import ip_address
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.addresses import IPAddress, allowed_address
from mmsearch.infra.media.uris import parse_http

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
# What a connection that breaks or is cut off mid-answer raises, at whichever layer notices.
BROKEN = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


def _forbidden(message: str) -> ItemError:
    return ItemError(ItemErrorCode.FORBIDDEN_URI, message)


class Deadline:
    """One time limit for a whole fetch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.passed = False  # set once the limit cut a connection off

    def error(self) -> ItemError:
        """The fetch_failed error of a fetch that ran out of time."""
        return ItemError(ItemErrorCode.FETCH_FAILED, f"the fetch took longer than {self.seconds} s")

    def left(self) -> float:
        """Seconds left; the deadline's error once none are."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            self.passed = True
            raise self.error()
        return remaining

    @contextmanager
    def guard(self, conn: HTTPConnection) -> Iterator[None]:
        """Shut the connection's socket when the deadline passes: a blocked read then returns
        at once, however slowly the server has been sending."""
        sock = conn.sock

        def cut_off() -> None:
            self.passed = True
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self.left(), cut_off)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


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
    """The body of an http(s) reference, following at most three redirects, each re-checked,
    all within `timeout_s`."""
    deadline = Deadline(timeout_s)
    current = uri
    for _ in range(MAX_REDIRECTS + 1):
        conn = _connect(current, allowed_networks, deadline)
        try:
            with deadline.guard(conn):
                response = _get(conn, current)
                if response.status in REDIRECTS:
                    current = _redirect_target(current, response)
                    continue
                body = _body(response, max_bytes)
        except BROKEN as exc:
            raise _broken(deadline, exc) from exc
        finally:
            conn.close()
        if deadline.passed:  # cut off where the end of the body cannot be told from a cut
            raise deadline.error()
        return body
    raise ItemError(ItemErrorCode.FETCH_FAILED, f"more than {MAX_REDIRECTS} redirects")


def _broken(deadline: Deadline, exc: Exception) -> ItemError:
    if deadline.passed:
        return deadline.error()
    what = f"the connection broke before the whole answer arrived ({type(exc).__name__})"
    return ItemError(ItemErrorCode.FETCH_FAILED, what)


def _redirect_target(current: str, response: urllib3.BaseHTTPResponse) -> str:
    location = response.headers.get("Location")
    if not location:
        raise ItemError(ItemErrorCode.FETCH_FAILED, "redirect without a Location")
    target = urljoin(current, location)
    if urlsplit(target).scheme.lower() not in {"http", "https"}:
        raise _forbidden("redirect to a scheme other than http(s)")
    return target


def _connect(uri: str, allowed_networks: Sequence[str], deadline: Deadline) -> HTTPConnection:
    ref = parse_http(uri)
    port = urlsplit(uri).port or (443 if ref.scheme == "https" else 80)
    address = str(resolve(ref.bucket, port, allowed_networks))
    # A socket timeout bounds the TCP connect and the TLS handshake as a whole.
    timeout = deadline.left()
    conn: HTTPConnection
    if ref.scheme == "https":
        conn = HTTPSConnection(
            address,
            port,
            timeout=timeout,
            server_hostname=ref.bucket,
            assert_hostname=ref.bucket,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        conn = HTTPConnection(address, port, timeout=timeout)
    try:
        conn.connect()
    except BROKEN as exc:
        conn.close()
        if time.monotonic() >= deadline.end:
            raise deadline.error() from exc
        message = f"http request failed: {type(exc).__name__}"
        raise ItemError(ItemErrorCode.FETCH_FAILED, message) from exc
    return conn


def _get(conn: HTTPConnection, uri: str) -> urllib3.BaseHTTPResponse:
    parts = urlsplit(uri)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = {"Host": parts.netloc, "User-Agent": "mmsearch", "Accept": "image/*"}
    conn.request("GET", target, headers=headers, preload_content=False)
    return conn.getresponse()


def _body(response: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
    if response.status == 404:
        raise ItemError(ItemErrorCode.NOT_FOUND, "the server answered 404")
    if response.status in (401, 403):
        raise ItemError(ItemErrorCode.ACCESS_DENIED, f"the server answered {response.status}")
    if response.status != 200:
        raise ItemError(ItemErrorCode.FETCH_FAILED, f"the server answered {response.status}")
    declared = response.length_remaining or 0  # None when absent or not a number
    if declared > max_bytes:
        raise ItemError(ItemErrorCode.TOO_LARGE, f"{declared} bytes exceeds {max_bytes}")
    data = bytearray()
    for chunk in response.stream(CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise ItemError(ItemErrorCode.TOO_LARGE, f"body exceeds {max_bytes} bytes")
    return bytes(data)
