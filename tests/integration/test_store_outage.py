"""The vector store unreachable for a while, under a real Celery worker, Redis and S3.

The store is the real embedded engine behind a switch that makes its writes fail like an
unreachable server, for as many calls as the test says.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from mmsearch.api.schemas.resources import CollectionCreate, IngestRequest, RetryRequest
from mmsearch.api.services import collections, ingest
from mmsearch.infra.runtime import Runtime, set_runtime
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.s3 import ACCESS_KEY, SECRET_KEY
from mmsearch.infra.vectors import open_vector_store
from mmsearch.workers.celery_app import celery_app, configure_celery
from mmsearch.workers.dispatch import TaskSender
from tests.fixtures.platform import unique_name
from tests.fixtures.s3 import upload_bucket


class SwitchedStore:
    """The real store; its next `failures` upserts fail as if the server were down."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.failures, self.refused = inner, 0, 0

    def upsert(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            self.refused += 1
            raise ConnectionError("vector store unreachable")
        return self.inner.upsert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture()
def worker_runtime(
    private_broker: str, s3_endpoint: str, tiny_model: str, tmp_path: Path
) -> Iterator[tuple[Runtime, SwitchedStore]]:
    settings = Settings(
        redis_url=private_broker,
        data_dir=tmp_path,
        s3_endpoint_url=s3_endpoint,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        default_model=tiny_model,
        batch_size=4,
        upsert_retries=2,
    )
    configure_celery(settings)
    runtime = Runtime(settings)
    store = SwitchedStore(open_vector_store(settings))
    runtime._vectors = store  # type: ignore[assignment]
    set_runtime(runtime)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield runtime, store
    finally:
        set_runtime(None)
        runtime.close()


# The services as the route handlers call them, with the runtime's stores.
def create_collection(rt: Runtime, body: CollectionCreate) -> None:
    s = rt.settings
    collections.create_collection(rt.vectors, rt.encoder, s.allowed_models, s.default_model, body)


def submit_ingest(rt: Runtime, name: str, body: IngestRequest) -> Any:
    s = rt.settings
    sender = TaskSender(celery_app, rt.outbox)
    return ingest.submit_ingest(rt.vectors, rt.jobs, sender, rt.objects, s.batch_size, name, body)


def retry_failed(rt: Runtime, job_id: str, body: RetryRequest) -> Any:
    sender = TaskSender(celery_app, rt.outbox)
    return ingest.retry_failed(rt.vectors, rt.jobs, sender, rt.settings.batch_size, job_id, body)


def wait(runtime: Runtime, job_id: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = runtime.jobs.get(job_id, errors_limit=100)
        if state.pending == 0 and state.status != "running":
            return state
        time.sleep(0.1)
    raise AssertionError(f"job did not finish: {state}")


@pytest.mark.slow
def test_batches_outlast_a_store_outage_then_fail_past_the_budget_then_retry(
    worker_runtime: tuple[Runtime, SwitchedStore], s3_client: Any, tiny_model: str
) -> None:
    runtime, store = worker_runtime
    photos = generated_photos(8)
    bucket = upload_bucket(s3_client, photos, label="outage")
    items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in photos]
    name = unique_name("outage")
    create_collection(runtime, CollectionCreate(name=name, model=tiny_model))

    store.failures = 2  # down for two attempts: each batch backs off and gets through
    state = wait(runtime, submit_ingest(runtime, name, IngestRequest(items=items)).job_id)
    assert (state.status, state.succeeded, state.failed) == ("succeeded", 8, 0)
    assert store.refused == 2 and runtime.vectors.count(name) == 8

    store.failures = 1000  # down for good: past the retry budget items fail, none is dropped
    other = unique_name("outage")
    create_collection(runtime, CollectionCreate(name=other, model=tiny_model))
    job_id = submit_ingest(runtime, other, IngestRequest(items=items)).job_id
    state = wait(runtime, job_id)
    assert (state.status, state.succeeded, state.failed) == ("failed", 0, 8)
    assert {e.code for e in state.errors} == {"upsert_failed"}
    assert store.refused == 2 + 2 * 3  # two batches, each tried 1 + upsert_retries times

    store.failures = 0  # back up: the failed items go through on retry
    retry_failed(runtime, job_id, RetryRequest())
    state = wait(runtime, job_id)
    assert (state.status, state.succeeded, state.failed) == ("succeeded", 8, 0)
    assert runtime.vectors.count(other) == 8
