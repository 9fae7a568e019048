"""http(s) references: off by default, and never able to reach non-public addresses (SSRF),
checked against a real HTTP server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmsearch.infra.errors import ItemError
from mmsearch.infra.local_redis import free_port
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from tests.fixtures.web import IMAGE, media_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with media_server() as base:
        yield base


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


@pytest.mark.parametrize("path", ["/short.jpg", "/cut-chunk.jpg"])
def test_a_body_cut_short_is_fetch_failed(tmp_path: Path, server: str, path: str) -> None:
    objects = store(tmp_path, http_allowed_networks=["127.0.0.1/32"])
    assert code(objects, f"{server}{path}") == "fetch_failed"


@pytest.mark.parametrize("path", ["/trickle.jpg", "/trickle-headers"])
def test_one_deadline_bounds_the_whole_fetch(tmp_path: Path, server: str, path: str) -> None:
    # Each byte comes well within the timeout; only a deadline for the whole fetch ends it.
    objects = store(tmp_path, http_allowed_networks=["127.0.0.1/32"], fetch_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ItemError) as caught:
        objects.fetch(objects.parse(f"{server}{path}"))
    assert caught.value.code == "fetch_failed"
    assert "1.0 s" in caught.value.message
    assert time.monotonic() - started < 2.0


def test_connections_that_cannot_be_made_are_fetch_failed(tmp_path: Path, server: str) -> None:
    objects = store(tmp_path, http_allowed_networks=["127.0.0.1/32"], fetch_timeout_s=2.0)
    port = server.rsplit(":", 1)[1]
    assert code(objects, f"https://127.0.0.1:{port}/a.jpg") == "fetch_failed"  # no TLS there
    assert code(objects, f"http://127.0.0.1:{free_port()}/a.jpg") == "fetch_failed"  # nobody
