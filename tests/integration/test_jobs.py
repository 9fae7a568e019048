"""Job counters on a real Redis: batches count once, status derives from counters."""

from __future__ import annotations

import pytest
import redis

from mmsearch.infra.errors import JobNotFound
from mmsearch.infra.jobs.index import recent_jobs
from mmsearch.infra.jobs.retry import take_failed
from mmsearch.infra.jobs.store import RECENT, RECENT_JOBS, ItemFailure, JobStatus, JobStore


def store(redis_url: str, max_errors: int = 3) -> JobStore:
    return JobStore(redis.Redis.from_url(redis_url), max_errors=max_errors, ttl_s=3600)


def failure(i: int) -> ItemFailure:
    return ItemFailure(uri=f"s3://b/{i}", id=None, code="not_found", message="gone")


def test_counters_status_and_idempotent_batches(redis_url: str) -> None:
    jobs = store(redis_url)
    job_id = jobs.create("c", 10)
    assert jobs.get(job_id).status == JobStatus.QUEUED
    jobs.mark_started(job_id)
    assert jobs.complete_batch(job_id, "b0", succeeded=4, failed=[failure(1)])
    assert not jobs.complete_batch(job_id, "b0", succeeded=4, failed=[failure(1)])
    state = jobs.get(job_id)
    assert (state.status, state.succeeded, state.failed, state.pending) == (
        JobStatus.RUNNING,
        4,
        1,
        5,
    )
    jobs.complete_batch(job_id, "b1", succeeded=1, failed=[failure(i) for i in range(2, 6)])
    state = jobs.get(job_id, errors_limit=10)
    assert state.status == JobStatus.COMPLETED_WITH_ERRORS and state.pending == 0
    assert state.failed == 5 and state.error_count == 3 and len(state.errors) == 3
    assert jobs.get(job_id, errors_limit=1, errors_offset=2).errors[0].uri == "s3://b/3"
    assert state.updated_at >= state.created_at


def test_all_failed_all_succeeded_cancelled_and_listing(redis_url: str) -> None:
    jobs = store(redis_url)
    failed = jobs.create("c", 2)
    jobs.complete_batch(failed, "b0", succeeded=0, failed=[failure(1), failure(2)])
    assert jobs.get(failed).status == JobStatus.FAILED
    ok = jobs.create("c", 2)
    jobs.complete_batch(ok, "b0", succeeded=2, failed=[])
    assert jobs.get(ok).status == JobStatus.SUCCEEDED
    assert jobs.cancel(ok).status == JobStatus.SUCCEEDED  # a finished job stays finished
    running = jobs.create("c", 5)
    assert jobs.cancel(running).status == JobStatus.CANCELLED and jobs.is_cancelled(running)
    listing = jobs.create("c", 0, listing=True)
    assert jobs.get(listing).status == JobStatus.QUEUED
    jobs.set_total(listing, 3)
    jobs.complete_batch(listing, "p0", succeeded=3, failed=[])
    assert jobs.get(listing).status == JobStatus.QUEUED  # still listing
    jobs.set_total(listing, 3, listing_done=True)
    assert jobs.get(listing).status == JobStatus.SUCCEEDED


def test_poll_cost_does_not_grow_with_job_size(redis_url: str) -> None:
    jobs = store(redis_url)
    big = jobs.create("c", 1_000_000)
    for batch in range(200):
        jobs.complete_batch(big, f"b{batch}", succeeded=64, failed=[failure(batch)])
    client = redis.Redis.from_url(redis_url)
    # A poll reads one hash, one list length and one capped page: no per-item keys exist.
    assert client.hlen(f"mmsearch:job:{big}") < 20
    assert client.llen(f"mmsearch:job:{big}:errors") == 3
    assert jobs.get(big).succeeded == 200 * 64


def failed_item(i: int, code: str) -> ItemFailure:
    item = {"uri": f"s3://b/{i}", "id": f"i{i}", "metadata": {"n": i}}
    return ItemFailure(uri=item["uri"], id=f"i{i}", code=code, message="bad", item=item)


def test_retry_takes_failed_items_once_and_counters_add_up(redis_url: str) -> None:
    jobs = store(redis_url, max_errors=100)
    job_id = jobs.create("c", 6, options={"dedup_threshold": 0.9})
    failures = [failed_item(1, "not_found"), failed_item(2, "not_an_image")]
    failures.append(failed_item(3, "not_found"))
    jobs.mark_started(job_id)
    jobs.complete_batch(job_id, "b0", succeeded=3, failed=failures)
    assert jobs.get(job_id).status == JobStatus.COMPLETED_WITH_ERRORS

    first = take_failed(jobs, job_id, ["not_found"])
    assert first.attempt == 1 and [i["id"] for i in first.items] == ["i1", "i3"]
    assert first.items[0]["metadata"] == {"n": 1}
    state = jobs.get(job_id)
    assert (state.succeeded, state.failed, state.pending, state.status) == (
        3,
        1,
        2,
        JobStatus.RUNNING,
    )
    assert [e.code for e in state.errors] == ["not_an_image"]
    assert take_failed(jobs, job_id, ["not_found"]).items == []  # taken once only

    jobs.complete_batch(job_id, "r1-0", succeeded=1, failed=[failed_item(3, "not_found")])
    jobs.complete_batch(job_id, "r1-0", succeeded=1, failed=[failed_item(3, "not_found")])
    state = jobs.get(job_id)
    assert (state.succeeded, state.failed, state.pending) == (4, 2, 0)
    assert state.options == {"dedup_threshold": 0.9}

    rest = take_failed(jobs, job_id, [])
    assert rest.attempt == 2 and sorted(i["id"] for i in rest.items) == ["i2", "i3"]
    state = jobs.get(job_id)
    assert (state.failed, state.pending, state.error_count, state.retries) == (0, 2, 0, 2)
    with pytest.raises(JobNotFound):
        take_failed(jobs, "no-such-job", [])


def test_recent_jobs_newest_first_per_tenant_and_capped(redis_url: str) -> None:
    jobs = store(redis_url)
    mine = [jobs.create("c", 1, tenant="acme") for _ in range(3)]
    theirs = jobs.create("c", 1, tenant="globex")
    assert [s.job_id for s in recent_jobs(jobs, 2, "acme")] == [mine[2], mine[1]]
    assert [s.job_id for s in recent_jobs(jobs, 10, "globex")] == [theirs]
    assert [s.job_id for s in recent_jobs(jobs, 2)] == [theirs, mine[2]]
    assert jobs.redis.zcard(RECENT) <= RECENT_JOBS
