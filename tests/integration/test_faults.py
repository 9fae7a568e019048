"""Faults on real processes: the platform killed mid-job (with a shared or its private Redis),
Redis restarted mid-job.

Each test runs its own Redis and standalone process (the session's platform would otherwise
take these tasks), with S3 over HTTP from the shared moto server.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmsearch.infra.local_redis import LocalRedis
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, standalone_env
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

pytestmark = pytest.mark.slow  # two platforms and a Redis restart per test

ITEMS = 240


@pytest.fixture()
def stack_env(tmp_path: Path, s3_endpoint: str, tiny_model: str) -> Iterator[dict[str, Any]]:
    redis = LocalRedis(tmp_path / "redis", persist=True)
    env = standalone_env(
        redis.url,
        tmp_path / "data",
        s3_endpoint,
        tiny_model,
        batch_size="8",
        task_visibility_timeout_s="10",  # a lost worker's tasks come back soon
    )
    yield {"env": env, "redis": redis, "tmp": tmp_path}
    redis.stop()


@pytest.fixture(scope="module")
def photo_bucket(s3_client: Any) -> tuple[str, list[str]]:
    photos = generated_photos(ITEMS)
    return upload_bucket(s3_client, photos, label="faults"), [p.name for p in photos]


def start_job(platform: Platform, bucket: str, names: list[str], model: str) -> tuple[str, str]:
    collection = new_collection(platform, "faults", model)
    items = [{"uri": f"s3://{bucket}/{n}", "id": n} for n in names]
    return collection, platform.ingest(collection, {"items": items})


def wait_for_progress(platform: Platform, job_id: str, at_least: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = platform.request("GET", f"/v1/jobs/{job_id}").json()
        if job["succeeded"] >= at_least:
            return dict(job)
        time.sleep(0.02)
    raise AssertionError(f"no progress: {job}")


def assert_complete_and_unique(platform: Platform, collection: str, job_id: str) -> None:
    job = platform.wait_job(job_id, timeout_s=240)
    assert (job["status"], job["total"], job["succeeded"], job["failed"]) == (
        "succeeded",
        ITEMS,
        ITEMS,
        0,
    ), job
    assert platform.request("GET", f"/v1/collections/{collection}").json()["count"] == ITEMS
    hits = platform.search(collection, {"text": "shapes", "limit": ITEMS})["results"]
    assert len({h["id"] for h in hits}) == len(hits) == ITEMS


def test_platform_killed_mid_job_loses_and_duplicates_nothing(
    stack_env: dict[str, Any], photo_bucket: tuple[str, list[str]], tiny_model: str
) -> None:
    bucket, names = photo_bucket
    first = Platform(stack_env["env"], stack_env["tmp"] / "first.log")
    collection, job_id = start_job(first, bucket, names, tiny_model)
    at_kill = wait_for_progress(first, job_id, at_least=8)
    first.process.send_signal(signal.SIGKILL)  # no shutdown: batches in flight are lost
    first.process.wait()
    first.stop()
    assert at_kill["succeeded"] < ITEMS, "the job finished before the kill; nothing was tested"

    second = Platform(stack_env["env"], stack_env["tmp"] / "second.log")
    try:
        assert_complete_and_unique(second, collection, job_id)
    finally:
        second.stop()


def test_redis_restarted_mid_job_loses_and_duplicates_nothing(
    stack_env: dict[str, Any], photo_bucket: tuple[str, list[str]], tiny_model: str
) -> None:
    bucket, names = photo_bucket
    platform = Platform(stack_env["env"], stack_env["tmp"] / "platform.log")
    try:
        collection, job_id = start_job(platform, bucket, names, tiny_model)
        at_restart = wait_for_progress(platform, job_id, at_least=8)
        stack_env["redis"].restart()  # queue, unacked tasks and job counters come back from AOF
        assert at_restart["succeeded"] < ITEMS, "the job finished first; nothing was tested"
        assert_complete_and_unique(platform, collection, job_id)
    finally:
        platform.stop()


def test_a_restarted_platform_sends_its_lost_batches_again_at_once(
    tmp_path: Path, s3_endpoint: str, tiny_model: str, photo_bucket: tuple[str, list[str]]
) -> None:
    bucket, names = photo_bucket
    # Its private Redis keeps the queue; an hour's visibility timeout leaves the batches taken
    # before the kill to the restart alone.
    env = standalone_env("", tmp_path / "data", s3_endpoint, tiny_model, batch_size="8")
    env.pop("MMSEARCH_REDIS_URL")
    env["MMSEARCH_TASK_VISIBILITY_TIMEOUT_S"] = "3600"
    first = Platform(env, tmp_path / "first.log")
    collection, job_id = start_job(first, bucket, names, tiny_model)
    at_kill = wait_for_progress(first, job_id, at_least=8)
    first.process.send_signal(signal.SIGKILL)
    first.stop()
    assert at_kill["succeeded"] < ITEMS, "the job finished before the kill; nothing was tested"

    second = Platform(env, tmp_path / "second.log")
    try:
        job = second.wait_job(job_id, timeout_s=60)  # far less than the visibility timeout
        assert (job["status"], job["succeeded"]) == ("succeeded", ITEMS), job
        assert_complete_and_unique(second, collection, job_id)
    finally:
        second.stop()
