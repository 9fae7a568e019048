"""One standalone platform process for the session, wired to real Redis and S3 servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import S3_KEY, S3_SECRET
from tests.fixtures.platform import Platform


@pytest.fixture(scope="session")
def platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, s3_endpoint: str, tiny_model: str
) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("data")
    media = tmp_path_factory.mktemp("media")
    env = {
        "MMSEARCH_REDIS_URL": redis_url,
        "MMSEARCH_DATA_DIR": str(data_dir),
        "MMSEARCH_FILE_ROOT": str(media),
        "MMSEARCH_S3_ENDPOINT_URL": s3_endpoint,
        "MMSEARCH_S3_ACCESS_KEY": S3_KEY,
        "MMSEARCH_S3_SECRET_KEY": S3_SECRET,
        "MMSEARCH_DEFAULT_MODEL": tiny_model,
        "MMSEARCH_MODELS": "mmsearch-tiny/random:3,hf:tiny-clip/random:5",  # fan-out, migration
        "MMSEARCH_BATCH_SIZE": "32",
        "MMSEARCH_MAX_ITEMS_PER_REQUEST": "5000",
        "MMSEARCH_MAX_REQUEST_BYTES": str(4 * 1024 * 1024),
        "MMSEARCH_MAX_IMAGE_BYTES": str(8 * 1024 * 1024),
    }
    running = Platform(env, Path(data_dir) / "standalone.log")
    running.media_root = Path(media)  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture()
def private_broker(redis_url: str) -> str:
    """A Redis database of its own (queue and jobs) for tests that run a worker in-process or
    inspect the queue: the session platform consumes database 0. One number for all of them,
    because the process's Celery app keeps its broker connection pool once it has used it."""
    url = redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(url).flushdb()
    return url
