"""http(s) references: off by default, and never able to reach non-public addresses (SSRF),
checked against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path

import pytest

from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.http_fetch import allowed_address
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import generated_jpeg

IMAGE = generated_jpeg(1)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        port = self.server.server_address[1]
        routes = {
            "/a.jpg": (200, {}, IMAGE),
            "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data"}, b""),
            "/to-a": (302, {"Location": f"http://127.0.0.1:{port}/a.jpg"}, b""),
            "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/big.jpg": (200, {}, b"\xff" * 5000),
            "/private.jpg": (403, {}, b""),
        }
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def store(tmp_path: Path, **kwargs: object) -> ObjectStore:
    settings = Settings(data_dir=tmp_path, allowed_schemes=["s3", "http", "https"], **kwargs)
    return ObjectStore(settings)


def code(objects: ObjectStore, uri: str) -> str:
    with pytest.raises(ItemError) as caught:
        objects.fetch(objects.parse(uri))
    return str(caught.value.code)


def test_http_is_off_by_default(tmp_path: Path, server: str) -> None:
    objects = ObjectStore(Settings(data_dir=tmp_path))
    with pytest.raises(ItemError) as caught:
        objects.parse(f"{server}/a.jpg")
    assert caught.value.code == "forbidden_uri"


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
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not allowed_address(ip_address(address), [])


def test_public_and_operator_allowed_addresses_pass() -> None:
    assert allowed_address(ip_address("8.8.8.8"), [])
    assert allowed_address(ip_address("2606:4700:4700::1111"), [])
    assert allowed_address(ip_address("10.1.2.3"), ["10.1.2.0/24"])
    assert not allowed_address(ip_address("10.1.3.3"), ["10.1.2.0/24"])


def test_loopback_is_refused_however_it_is_written(tmp_path: Path, server: str) -> None:
    objects, port = store(tmp_path), server.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1"):
        assert code(objects, f"http://{host}:{port}/a.jpg") == "forbidden_uri", host


def test_allowed_network_fetches_and_redirects_are_checked_again(
    tmp_path: Path, server: str
) -> None:
    objects = store(tmp_path, http_allowed_networks=["127.0.0.1/32"], max_image_bytes=4096)
    assert objects.fetch(objects.parse(f"{server}/a.jpg")) == IMAGE
    assert objects.fetch(objects.parse(f"{server}/to-a")) == IMAGE  # a redirect it may follow
    assert code(objects, f"{server}/to-metadata") == "forbidden_uri"
    assert code(objects, f"{server}/to-file") == "forbidden_uri"
    assert code(objects, f"{server}/loop") == "fetch_failed"
    assert code(objects, f"{server}/big.jpg") == "too_large"
    assert code(objects, f"{server}/private.jpg") == "access_denied"
    assert code(objects, f"{server}/missing.jpg") == "not_found"


def test_references_with_credentials_or_as_prefix_are_invalid(tmp_path: Path) -> None:
    objects = store(tmp_path)
    for uri, prefix in (
        ("http://user:pw@example.com/a.jpg", False),
        ("https://example.com/", True),
    ):
        with pytest.raises(ItemError) as caught:
            objects.parse(uri, prefix=prefix)
        assert caught.value.code == "invalid_uri"
