"""http(s) media through a running platform: a server that breaks off, trickles or hides behind
an IPv6 form of a private address gives a stable error code, never a 500 or a held request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmsearch.infra.testing.platform import Platform, platform_with_redis
from tests.fixtures.http import error_of
from tests.fixtures.platform import new_collection
from tests.fixtures.web import media_server

FETCH_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with media_server() as base:
        yield base


@pytest.fixture(scope="module")
def http_platform(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, tiny_model: str
) -> Iterator[Platform]:
    folder: Path = tmp_path_factory.mktemp("http-platform")
    with platform_with_redis(
        folder,
        s3_endpoint,
        tiny_model,
        allowed_schemes="s3,http",
        http_allowed_networks="127.0.0.1/32",
        fetch_timeout_s=str(FETCH_TIMEOUT_S),
    ) as running:
        yield running


def nat64(server: str, v4_hex: str) -> str:
    """The server's URL with its host written as a NAT64 address of an IPv4 host (not the
    allowed 127.0.0.1)."""
    port = server.rsplit(":", 1)[1]
    return f"http://[64:ff9b::{v4_hex}]:{port}/a.jpg"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/short.jpg", "fetch_failed"),
        ("/cut-chunk.jpg", "fetch_failed"),
        ("/trickle.jpg", "fetch_failed"),
        ("/trickle-headers", "fetch_failed"),
        ("/to-metadata", "forbidden_uri"),
    ],
)
def test_search_image_from_a_misbehaving_server_is_a_client_error(
    http_platform: Platform, tiny_model: str, server: str, path: str, code: str
) -> None:
    name = new_collection(http_platform, "http-search", tiny_model)
    started = time.monotonic()
    response = http_platform.request(
        "POST", f"/v1/collections/{name}/search", json={"image": {"uri": f"{server}{path}"}}
    )
    assert error_of(response, 400)["code"] == code
    assert time.monotonic() - started < FETCH_TIMEOUT_S + 3


@pytest.mark.parametrize("v4_hex", ["a00:1", "a9fe:a9fe"])  # 10.0.0.1, 169.254.169.254
def test_search_image_at_a_nat64_form_of_a_private_address_is_forbidden(
    http_platform: Platform, tiny_model: str, server: str, v4_hex: str
) -> None:
    name = new_collection(http_platform, "http-nat64", tiny_model)
    response = http_platform.request(
        "POST", f"/v1/collections/{name}/search", json={"image": {"uri": nat64(server, v4_hex)}}
    )
    assert error_of(response, 400)["code"] == "forbidden_uri"


def test_ingest_records_each_misbehaving_server_against_its_item(
    http_platform: Platform, tiny_model: str, server: str
) -> None:
    bad = {
        f"{server}/short.jpg": ("fetch_failed", "connection broke"),
        f"{server}/cut-chunk.jpg": ("fetch_failed", "connection broke"),
        f"{server}/trickle.jpg": ("fetch_failed", f"longer than {FETCH_TIMEOUT_S} s"),
        f"{server}/trickle-headers": ("fetch_failed", f"longer than {FETCH_TIMEOUT_S} s"),
        nat64(server, "a00:1"): ("forbidden_uri", "non-public"),
        "http://[::ffff:0:a9fe:a9fe]/latest/meta-data": ("forbidden_uri", "non-public"),
    }
    good = f"{server}/a.jpg"
    name = new_collection(http_platform, "http-ingest", tiny_model)
    started = time.monotonic()

    job = http_platform.wait_job(
        http_platform.ingest(name, {"items": [{"uri": u} for u in [good, *bad]]})
    )

    assert time.monotonic() - started < 20  # the trickling servers go on for 30 s
    assert (job["status"], job["succeeded"], job["failed"]) == (
        "completed_with_errors",
        1,
        len(bad),
    )
    found = {e["uri"]: (e["code"], e["message"]) for e in job["errors"]}
    assert set(found) == set(bad)
    for uri, (code, words) in bad.items():
        assert found[uri][0] == code and words in found[uri][1], (uri, found[uri])
