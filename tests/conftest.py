"""Shared fixtures: real redis-server, S3 over HTTP (moto server), tiny offline model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from mmsearch.encoders import TINY_TEST_MODEL  # noqa: E402
from mmsearch.infra.local_redis import LocalRedis, free_port  # noqa: E402

S3_KEY, S3_SECRET = "testing-access-key", "testing-secret-key"


@pytest.fixture(scope="session")
def tiny_model() -> str:
    return TINY_TEST_MODEL


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port for the whole session."""
    server = LocalRedis(tmp_path_factory.mktemp("redis"), persist=False)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, spoken to over HTTP by boto3."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
    )


@pytest.fixture()
def file_root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    return root
