"""Shared fixtures: real redis-server, S3 over HTTP (SeaweedFS, else moto), tiny offline model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from mmsearch.encoders import TINY_TEST_MODEL  # noqa: E402
from mmsearch.infra.local_redis import LocalRedis  # noqa: E402
from mmsearch.infra.testing.s3 import aws_client, local_s3  # noqa: E402


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
    """A real S3 server (SeaweedFS; moto's with MMSEARCH_TEST_S3=moto), over HTTP by boto3."""
    server = local_s3()
    yield server.endpoint
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    return aws_client(s3_endpoint)


@pytest.fixture()
def file_root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    return root
