"""One standalone platform process for the session, wired to real Redis and S3 servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from mmsearch.infra.testing.platform import Platform, standalone_env


@pytest.fixture(scope="session")
def platform(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, s3_endpoint: str, tiny_model: str
) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("data")
    env = standalone_env(
        redis_url,
        data_dir,
        s3_endpoint,
        tiny_model,
        file_root=str(tmp_path_factory.mktemp("media")),
        # fan-out, migration, re-ranking
        models="mmsearch-tiny/random:3,hf:tiny-clip/random:5,itm:tiny-blip/random",
        batch_size="32",
        max_items_per_request="5000",
        max_request_bytes=str(4 * 1024 * 1024),
        max_image_bytes=str(8 * 1024 * 1024),
        max_video_duration_s="60",
        sync_tick_s="1",
        bucket_events_key="mmsearch:test-bucket-events",
    )
    running = Platform(env, data_dir / "standalone.log")
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
