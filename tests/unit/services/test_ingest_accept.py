"""Large ingest requests are stored and fanned out by a worker task; an Idempotency-Key makes a
repeated request return the first job. Real Redis (jobs, outbox, broker); no worker runs."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from mmsearch.api.schemas.resources import IngestRequest
from mmsearch.api.services.ingest import INLINE_BATCHES, cancel, submit_ingest
from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.errors import IdempotencyKeyReused
from mmsearch.infra.jobs.idempotency import body_digest, claim
from mmsearch.infra.jobs.index import recent_jobs
from mmsearch.infra.jobs.items import load_items
from mmsearch.infra.jobs.outbox import LISTING, Outbox, SentTask
from mmsearch.infra.jobs.store import JobStatus, JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.vectors import EdgeVectorStore
from mmsearch.workers.celery_app import FAN_OUT_ITEMS, INGEST_BATCH
from mmsearch.workers.dispatch import TaskSender
from mmsearch.workers.listing import fan_out_stored
from tests.fixtures.broker import queued_tasks

BATCH = 2
LARGE = INLINE_BATCHES * BATCH + 5  # one more than fits in the inline batches, and an odd batch


pytestmark = pytest.mark.usefixtures("photos")


@pytest.fixture()
def post(vectors: EdgeVectorStore, jobs: JobStore, sender: TaskSender, objects: ObjectStore) -> Any:
    """Submit a raw body as the ingest route does (with its Idempotency-Key, if any)."""

    def run(body: dict[str, Any], key: str | None = None, tenant: str | None = None) -> Any:
        once = (key, body_digest(body)) if key else None
        request = IngestRequest.model_validate(body)
        return submit_ingest(
            vectors, jobs, sender, objects, BATCH, "photos", request, tenant, idempotency=once
        )

    return run


@pytest.fixture()
def fan_out(vectors: EdgeVectorStore, jobs: JobStore, sender: TaskSender) -> Any:
    """The fan-out task's body for a job of `photos`, in batches of BATCH."""

    def run(job_id: str, metadata: dict[str, Any], limits: MetadataLimits) -> None:
        fan_out_stored(jobs, sender, vectors, job_id, "photos", metadata, limits, BATCH)

    return run


def _items(count: int) -> list[dict[str, Any]]:
    return [{"uri": f"s3://bucket/{n % 3}.jpg", "id": f"i{n}"} for n in range(count)]


def test_a_large_request_is_stored_and_sent_as_one_task(
    post: Any, jobs: JobStore, outbox: Outbox, broker: redis.Redis
) -> None:
    accepted = post({"items": _items(100_000), "metadata": {"album": "all"}})
    assert (accepted.status, accepted.total) == (JobStatus.QUEUED, 100_000)
    state = jobs.get(accepted.job_id)
    assert (state.status, state.total, state.pending) == (JobStatus.QUEUED, 100_000, 100_000)
    fan_out = SentTask(FAN_OUT_ITEMS, [accepted.job_id, "photos", {"album": "all"}, None])
    assert outbox.pending(accepted.job_id) == {LISTING: fan_out}
    assert queued_tasks(broker) == [(fan_out.task, fan_out.args)]
    stored = load_items(jobs, accepted.job_id) or []
    assert len(stored) == 100_000 and stored[7] == {"uri": "s3://bucket/1.jpg", "id": "i7"}


def test_the_fan_out_queues_every_stored_item_once(
    post: Any, fan_out: Any, jobs: JobStore, outbox: Outbox, broker: redis.Redis
) -> None:
    items = _items(LARGE)
    items[3]["metadata"] = {"note": "x" * 300}
    accepted = post({"items": items, "metadata": {"album": "all"}})
    job = accepted.job_id
    limits = MetadataLimits(bytes=200)

    fan_out(job, {"album": "all"}, limits)
    batches = [args for task, args in queued_tasks(broker) if task == INGEST_BATCH]
    sent = [item["id"] for args in batches for item in args[3]]
    assert sent == [f"i{n}" for n in range(LARGE) if n != 3]
    assert all(i["metadata"] == {"album": "all"} for a in batches for i in a[3])
    assert set(outbox.pending(job)) == {f"b{n}" for n in range(len(batches))}  # listing done
    state = jobs.get(job)
    assert (state.total, state.failed, state.pending, state.listing) == (LARGE, 1, LARGE - 1, False)
    assert [e.code for e in state.errors] == ["invalid_metadata"]
    assert load_items(jobs, job) is None

    fan_out(job, {"album": "all"}, limits)
    assert len(queued_tasks(broker)) == 1 + len(batches)  # a redelivered fan-out sends nothing
    assert jobs.get(job).failed == 1


def test_the_fan_out_converts_declared_types_and_refuses_what_it_cannot(
    post: Any, fan_out: Any, jobs: JobStore, broker: redis.Redis
) -> None:
    items = _items(LARGE)
    for n, item in enumerate(items):
        item["metadata"] = {"n": str(n), "parity": n % 2}
    items[4]["metadata"] = {"n": "4.5"}
    job = post({"items": items}).job_id

    fan_out(job, {}, MetadataLimits())

    batches = [args for task, args in queued_tasks(broker) if task == INGEST_BATCH]
    sent = {item["id"]: item["metadata"] for args in batches for item in args[3]}
    assert sent == {f"i{n}": {"n": n, "parity": str(n % 2)} for n in range(LARGE) if n != 4}
    [error] = jobs.get(job).errors
    assert (error.id, error.code) == ("i4", "invalid_metadata") and "'n'" in error.message


def test_a_job_cancelled_before_its_fan_out_queues_nothing(
    post: Any, fan_out: Any, jobs: JobStore, outbox: Outbox, broker: redis.Redis
) -> None:
    job = post({"items": _items(LARGE)}).job_id
    assert cancel(jobs, job).status == JobStatus.CANCELLED
    fan_out(job, {}, MetadataLimits())
    assert [task for task, _ in queued_tasks(broker)] == [FAN_OUT_ITEMS]
    assert outbox.pending(job) == {} and load_items(jobs, job) is None
    assert jobs.get(job).status == JobStatus.CANCELLED


@pytest.mark.parametrize("count", [3, LARGE])
def test_a_repeated_idempotency_key_returns_the_first_job(
    post: Any, jobs: JobStore, broker: redis.Redis, count: int
) -> None:
    body = {"items": _items(count), "metadata": {"album": "all"}}
    first = post(body, key="upload-1")
    queued = queued_tasks(broker)
    again = post(dict(reversed(body.items())), key="upload-1")  # same body, keys in other order
    assert again == first
    assert [s.job_id for s in recent_jobs(jobs, 10, None)] == [first.job_id]
    assert queued_tasks(broker) == queued

    with pytest.raises(IdempotencyKeyReused) as reused:
        post({**body, "metadata": {"album": "other"}}, key="upload-1")
    assert (reused.value.status, reused.value.code) == (409, "idempotency_key_reused")
    assert reused.value.details == {"job_id": first.job_id}
    other_tenant, other_key = post(body, key="upload-1", tenant="t2"), post(body, key="upload-2")
    assert len({first.job_id, other_tenant.job_id, other_key.job_id}) == 3
    assert len(recent_jobs(jobs, 10, None)) == 3


def test_a_key_whose_job_was_never_created_is_taken_by_the_retry(post: Any, jobs: JobStore) -> None:
    body = {"items": _items(3)}
    scope, lost = ("", "photos", "upload-1"), "0" * 32  # the first request died before its job
    assert claim(jobs.redis, scope, body_digest(body), lost, jobs.ttl_s) is None
    retried = post(body, key="upload-1")
    assert retried.job_id != lost and jobs.get(retried.job_id).total == 3
    assert post(body, key="upload-1").job_id == retried.job_id
