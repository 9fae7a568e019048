"""Ingest jobs: what a submitted request records (job, outbox, broker queue), the item limit, bad
input, tenants, cancel and retry. No worker runs: the batches stay queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import ValidationError

from mmsearch.api.schemas.resources import METADATA_LIMITS, IngestRequest, RetryRequest
from mmsearch.api.services.collections import delete_collection
from mmsearch.api.services.ingest import (
    cancel,
    check_item_count,
    job_public,
    job_state,
    retry_failed,
    submit_ingest,
)
from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.errors import (
    CollectionNotFound,
    Conflict,
    InvalidRequest,
    ItemError,
    ItemErrorCode,
    JobNotFound,
    TooLarge,
)
from mmsearch.infra.jobs.index import recent_jobs
from mmsearch.infra.jobs.outbox import LISTING, Outbox, SentTask
from mmsearch.infra.jobs.store import ItemFailure, JobStatus, JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore
from mmsearch.workers.celery_app import EXPAND_PREFIX, INGEST_BATCH, INGEST_QUEUE
from mmsearch.workers.dispatch import TaskSender
from tests.fixtures.broker import queued_tasks
from tests.unit.services.conftest import MakeCollection


@pytest.fixture()
def submit(
    vectors: EdgeVectorStore,
    jobs: JobStore,
    sender: TaskSender,
    objects: ObjectStore,
    photos: CollectionSpec,
) -> Any:
    """submit_ingest on the test's stores, in batches of two."""

    def run(body: dict[str, Any], tenant: str | None = None, collection: str = "photos") -> Any:
        request = IngestRequest.model_validate(body)
        return submit_ingest(vectors, jobs, sender, objects, 2, collection, request, tenant)

    return run


def _item(n: int, **extra: Any) -> dict[str, Any]:
    return {"uri": f"s3://bucket/{n}.jpg", "id": f"i{n}", **extra}


def test_items_are_queued_in_batches_and_recorded(
    submit: Any, jobs: JobStore, outbox: Outbox, broker: redis.Redis
) -> None:
    body = {
        "items": [_item(1, metadata={"album": "x"}), _item(2, text="a caption"), _item(3)],
        "metadata": {"album": "all", "year": 2020},
        "dedup_threshold": 0.9,
    }
    accepted = submit(body, tenant="a")
    assert (accepted.status, accepted.total) == (JobStatus.QUEUED, 3)
    state = jobs.get(accepted.job_id)
    assert (state.collection, state.total, state.pending, state.listing) == ("photos", 3, 3, False)
    assert state.tenant == "a" and state.options == {"dedup_threshold": 0.9, "tenant": "a"}
    sent: list[dict[str, Any]] = [
        {"uri": "s3://bucket/1.jpg", "id": "i1", "metadata": {"album": "x", "year": 2020}},
        {"uri": "s3://bucket/2.jpg", "id": "i2", "metadata": {"album": "all", "year": 2020}},
        {"uri": "s3://bucket/3.jpg", "id": "i3", "metadata": {"album": "all", "year": 2020}},
    ]
    sent[1]["text"] = "a caption"  # items go out as clients sent them: no keys left unset
    job, options = accepted.job_id, state.options
    expected = {
        "b0": SentTask(INGEST_BATCH, [job, "photos", "b0", sent[:2], options]),
        "b1": SentTask(INGEST_BATCH, [job, "photos", "b1", sent[2:], options]),
    }
    assert outbox.pending(job) == expected and outbox.active_jobs() == [job]
    assert queued_tasks(broker) == [(t.task, t.args) for t in expected.values()]


def test_a_prefix_is_queued_as_one_listing_task(
    submit: Any, jobs: JobStore, outbox: Outbox, broker: redis.Redis, file_root: Path
) -> None:
    prefix = f"file://{file_root}/holiday/"
    accepted = submit({"prefix": prefix, "metadata": {"trip": "rome"}})
    assert (accepted.status, accepted.total) == (JobStatus.QUEUED, None)
    state = jobs.get(accepted.job_id)
    assert state.listing and state.tenant is None and state.options == {}
    listing = SentTask(EXPAND_PREFIX, [accepted.job_id, "photos", prefix, {"trip": "rome"}, None])
    assert outbox.pending(accepted.job_id) == {LISTING: listing}
    assert queued_tasks(broker) == [(listing.task, listing.args)]


@pytest.mark.parametrize(
    ("prefix", "code"),
    [
        ("file:///etc/", ItemErrorCode.FORBIDDEN_URI),
        ("ftp://host/folder/", ItemErrorCode.INVALID_URI),
        ("https://example.com/folder/", ItemErrorCode.FORBIDDEN_URI),
    ],
)
def test_a_bad_prefix_is_refused_before_a_job_exists(
    submit: Any, jobs: JobStore, broker: redis.Redis, prefix: str, code: ItemErrorCode
) -> None:
    with pytest.raises(ItemError) as refused:
        submit({"prefix": prefix})
    assert refused.value.code == code
    assert recent_jobs(jobs, 10, None) == [] and queued_tasks(broker) == []


def test_an_unknown_collection_is_404_before_a_job_exists(
    submit: Any, jobs: JobStore, broker: redis.Redis
) -> None:
    with pytest.raises(CollectionNotFound):
        submit({"items": [_item(1)]}, collection="nowhere")
    assert recent_jobs(jobs, 10, None) == [] and queued_tasks(broker) == []


def test_more_items_than_the_limit_are_refused_before_validation() -> None:
    check_item_count({"items": [{}] * 5}, 5)
    check_item_count({"prefix": "s3://b/p/"}, 5)
    with pytest.raises(TooLarge) as refused:
        check_item_count({"items": [{"not": "validated"}] * 6}, 5)
    assert (refused.value.status, refused.value.code) == (413, "too_large")
    assert refused.value.details == {"limit": 5}


def test_a_tenant_sees_and_cancels_only_its_own_jobs(submit: Any, jobs: JobStore) -> None:
    job_id = submit({"items": [_item(1)]}, tenant="a").job_id
    assert job_state(jobs, job_id, "a").job_id == job_id
    assert job_state(jobs, job_id, None).tenant == "a"
    for call in (lambda: job_state(jobs, job_id, "b"), lambda: cancel(jobs, job_id, "b")):
        with pytest.raises(JobNotFound):
            call()
    assert jobs.get(job_id).status == JobStatus.QUEUED
    cancelled = cancel(jobs, job_id, "a")
    assert cancelled.status == JobStatus.CANCELLED and cancelled.pending == 1
    assert job_public(jobs.get(job_id)).status == JobStatus.CANCELLED


def _fail_all(jobs: JobStore, job_id: str, sent: dict[str, SentTask], code: str) -> None:
    """Count every queued batch, in order, as a worker would had each of its items failed."""
    for batch, task in sorted(sent.items()):
        items = task.args[3]
        failures = [ItemFailure(i["uri"], i["id"], code, "failed", item=i) for i in items]
        jobs.complete_batch(job_id, batch, succeeded=0, failed=failures)


def test_retry_sends_the_failed_items_again(
    submit: Any,
    vectors: EdgeVectorStore,
    jobs: JobStore,
    outbox: Outbox,
    sender: TaskSender,
    broker: redis.Redis,
) -> None:
    accepted = submit({"items": [_item(1), _item(2), _item(3)], "dedup_threshold": 0.5})
    job_id = accepted.job_id
    with pytest.raises(Conflict) as early:
        retry_failed(vectors, jobs, sender, 2, job_id, RetryRequest())
    assert early.value.code == "job_not_finished"
    sent = outbox.pending(job_id)
    _fail_all(jobs, job_id, sent, "not_found")
    assert jobs.get(job_id).status == JobStatus.FAILED
    broker.delete(INGEST_QUEUE)  # below: only what the retry queues

    with pytest.raises(Conflict) as other_code:
        retry_failed(
            vectors, jobs, sender, 2, job_id, RetryRequest(codes=[ItemErrorCode.CORRUPT_IMAGE])
        )
    assert other_code.value.code == "nothing_to_retry"
    retried = retry_failed(
        vectors, jobs, sender, 2, job_id, RetryRequest(codes=[ItemErrorCode.NOT_FOUND])
    )
    assert (retried.requeued, retried.attempt, retried.status) == (3, 1, JobStatus.QUEUED)
    failed = [item for _, task in sorted(sent.items()) for item in task.args[3]]
    options = {"dedup_threshold": 0.5}
    again = [  # every failed item, in the order they failed, in batches of two
        (INGEST_BATCH, [job_id, "photos", "r1-0", failed[:2], options]),
        (INGEST_BATCH, [job_id, "photos", "r1-1", failed[2:], options]),
    ]
    assert queued_tasks(broker) == again
    assert {k: (t.task, t.args) for k, t in outbox.pending(job_id).items()} == {
        args[2]: (task, args) for task, args in again
    }
    assert jobs.get(job_id).pending == 3


def test_a_cancelled_job_or_a_deleted_collection_is_not_retried(
    submit: Any, vectors: EdgeVectorStore, jobs: JobStore, outbox: Outbox, sender: TaskSender
) -> None:
    cancelled = submit({"items": [_item(1)]}).job_id
    cancel(jobs, cancelled, None)
    with pytest.raises(Conflict) as refused:
        retry_failed(vectors, jobs, sender, 2, cancelled, RetryRequest())
    assert refused.value.code == "job_cancelled"

    failed = submit({"items": [_item(2)]}).job_id
    _fail_all(jobs, failed, outbox.pending(failed), "not_found")
    vectors.delete_alias("photos")
    vectors.delete_collection("photos--v1")
    with pytest.raises(CollectionNotFound):
        retry_failed(vectors, jobs, sender, 2, failed, RetryRequest())
    assert jobs.get(failed).failed == 1  # nothing was taken back


def test_a_job_is_bound_to_its_collection_and_not_retried_into_a_new_one(
    submit: Any,
    vectors: EdgeVectorStore,
    jobs: JobStore,
    outbox: Outbox,
    sender: TaskSender,
    photos: CollectionSpec,
    make_collection: MakeCollection,
) -> None:
    listed = submit({"prefix": "s3://bucket/shots/"}).job_id
    failed = submit({"items": [_item(1)]}).job_id
    assert photos.incarnation is not None
    assert jobs.get(listed).incarnation == jobs.get(failed).incarnation == photos.incarnation
    _fail_all(jobs, failed, outbox.pending(failed), "not_found")
    delete_collection(vectors, "photos")
    again = make_collection("photos")
    assert again.name == photos.name and again.incarnation != photos.incarnation

    with pytest.raises(Conflict) as refused:
        retry_failed(vectors, jobs, sender, 2, failed, RetryRequest())

    assert refused.value.code == "collection_deleted"
    assert jobs.get(failed).failed == 1  # nothing was taken back


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_items_beyond_the_metadata_bounds_fail_alone(
    vectors: EdgeVectorStore,
    jobs: JobStore,
    sender: TaskSender,
    objects: ObjectStore,
    photos: CollectionSpec,
    outbox: Outbox,
) -> None:
    limits = MetadataLimits(depth=4, keys=10, bytes=200)
    bad = {
        "deep": {"n": _nested(4)},
        "keys": {f"k{i}": i for i in range(8)},  # 3 more come from the request's metadata
        "large": {"note": "x" * 200},
    }
    items = [_item(1), *(_item(n, id=n, metadata=m) for n, m in bad.items()), _item(2)]
    body = IngestRequest.model_validate(
        {"items": items, "metadata": {"a": 1, "b": 2, "c": 3}},
        context={METADATA_LIMITS: limits},
    )
    accepted = submit_ingest(
        vectors, jobs, sender, objects, 10, "photos", body, metadata_limits=limits
    )

    state = jobs.get(accepted.job_id)
    assert (state.total, state.failed, state.pending) == (5, 3, 2)
    assert {e.id: e.code for e in state.errors} == dict.fromkeys(bad, "invalid_metadata")
    assert all("at most" in e.message for e in state.errors)
    (task,) = outbox.pending(accepted.job_id).values()
    assert [item["id"] for item in task.args[3]] == ["i1", "i2"]
    jobs.complete_batch(accepted.job_id, "b0", succeeded=2, failed=[])
    assert jobs.get(accepted.job_id).status == JobStatus.COMPLETED_WITH_ERRORS
    with pytest.raises(Conflict) as refused:  # refused items would only fail again
        retry_failed(vectors, jobs, sender, 2, accepted.job_id, RetryRequest())
    assert refused.value.code == "nothing_to_retry"


def test_request_metadata_beyond_the_bounds_is_refused() -> None:
    limits = {METADATA_LIMITS: MetadataLimits(depth=4, keys=10, bytes=200)}
    for metadata in ({"n": _nested(4)}, {f"k{i}": i for i in range(11)}, {"s": "x" * 200}):
        with pytest.raises(ValidationError) as refused:
            IngestRequest.model_validate(
                {"prefix": "s3://b/", "metadata": metadata}, context=limits
            )
        assert refused.value.errors()[0]["loc"] == ("metadata",)
    within = IngestRequest.model_validate(
        {"prefix": "s3://b/", "metadata": _nested(4)}, context=limits
    )
    assert within.metadata == _nested(4)
    with pytest.raises(ValidationError):  # without a context, the default bounds hold
        IngestRequest.model_validate({"prefix": "s3://b/", "metadata": _nested(124)})


def test_items_take_the_declared_types_and_an_unconvertible_one_fails_alone(
    submit: Any, jobs: JobStore, outbox: Outbox
) -> None:
    items = [_item(1, metadata={"n": "1"}), _item(2, metadata={"n": "2.5"}), _item(3)]
    accepted = submit({"items": items, "metadata": {"n": "7", "parity": 0}})

    state = jobs.get(accepted.job_id)
    assert (state.total, state.failed, state.pending) == (3, 1, 2)
    [error] = state.errors
    assert (error.id, error.code) == ("i2", "invalid_metadata") and "'n'" in error.message
    (task,) = outbox.pending(accepted.job_id).values()
    assert [(i["id"], i["metadata"]) for i in task.args[3]] == [
        ("i1", {"n": 1, "parity": "0"}),
        ("i3", {"n": 7, "parity": "0"}),
    ]


@pytest.mark.parametrize("source", [{"prefix": "s3://bucket/"}, {"items": [_item(1)]}])
def test_request_metadata_that_cannot_take_its_type_is_refused_before_a_job(
    submit: Any, jobs: JobStore, source: dict[str, Any]
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        submit({**source, "metadata": {"n": "seven"}})
    assert refused.value.details[0]["field"] == "metadata.n"
    assert recent_jobs(jobs, 10) == []
