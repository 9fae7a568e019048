"""Ingest jobs: accept a request, queue its batches, and show a job's state (no Flask here)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mmsearch.api.schemas.resources import (
    IngestRequest,
    JobAccepted,
    JobError,
    JobPublic,
    RetryAccepted,
    RetryRequest,
)
from mmsearch.infra.errors import Conflict, JobNotFound
from mmsearch.infra.jobs.retry import take_failed
from mmsearch.infra.jobs.store import FINAL_STATUSES, JobState, JobStatus
from mmsearch.infra.runtime import Runtime
from mmsearch.workers.dispatch import send_batches, send_prefix

log = logging.getLogger(__name__)


def submit_ingest(
    runtime: Runtime, collection: str, body: IngestRequest, tenant: str | None = None
) -> JobAccepted:
    """Create a job and queue its batches; the workers do the rest (stamping `tenant`)."""
    runtime.vectors.get_collection(collection)  # 404 before any job exists
    jobs = runtime.jobs
    options = body.model_dump(include={"auto_labels", "dedup_threshold"}, exclude_none=True)
    if tenant is not None:
        options["tenant"] = tenant
    if body.prefix is not None:
        runtime.objects.parse(body.prefix, prefix=True)  # a bad prefix is the client's error
        job_id = jobs.create(collection, 0, listing=True, options=options, tenant=tenant)
        send_prefix(runtime.outbox, job_id, collection, body.prefix, body.metadata, options or None)
        return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=None)
    items = body.items or []
    job_id = jobs.create(collection, len(items), options=options, tenant=tenant)
    raw = [
        {
            "uri": item.uri,
            "id": item.id,
            "metadata": {**body.metadata, **item.metadata},
            "text": item.text,
        }
        for item in items
    ]
    send_batches(
        runtime.outbox,
        job_id,
        collection,
        raw,
        runtime.settings.batch_size,
        options=options or None,
    )
    return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=len(items))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def job_public(state: JobState) -> JobPublic:
    """The public view of a job."""
    return JobPublic(
        job_id=state.job_id,
        collection=state.collection,
        status=state.status,
        total=state.total,
        succeeded=state.succeeded,
        failed=state.failed,
        skipped=state.skipped,
        pending=state.pending,
        listing=state.listing,
        message=state.message,
        error_count=state.error_count,
        retries=state.retries,
        errors=[JobError(**e.public()) for e in state.errors],
        created_at=_iso(state.created_at),
        updated_at=_iso(state.updated_at),
    )


def job_state(runtime: Runtime, job_id: str, tenant: str | None = None, **page: int) -> JobState:
    """A job's state; 404 for a job of another tenant, as for one that does not exist."""
    state = runtime.jobs.get(job_id, **page)
    if tenant is not None and state.tenant != tenant:
        raise JobNotFound(f"job {job_id} not found")
    return state


def cancel(runtime: Runtime, job_id: str, tenant: str | None = None) -> JobPublic:
    job_state(runtime, job_id, tenant, errors_limit=0)
    return job_public(runtime.jobs.cancel(job_id))


def retry_failed(
    runtime: Runtime, job_id: str, body: RetryRequest, tenant: str | None = None
) -> RetryAccepted:
    """Send a finished job's failed items (or those with the given codes) through again."""
    state = job_state(runtime, job_id, tenant, errors_limit=0)
    if state.status == JobStatus.CANCELLED:
        raise Conflict("a cancelled job cannot be retried", code="job_cancelled")
    if state.status not in FINAL_STATUSES:
        raise Conflict(
            f"the job is still {state.status}; retry it once it has finished",
            code="job_not_finished",
        )
    runtime.vectors.get_collection(state.collection)  # 404 if it was deleted since
    taken = take_failed(runtime.jobs, job_id, [str(code) for code in body.codes])
    if not taken.items:
        raise Conflict("the job has no failed items to retry", code="nothing_to_retry")
    send_batches(
        runtime.outbox,
        job_id,
        state.collection,
        taken.items,
        runtime.settings.batch_size,
        tag=f"r{taken.attempt}-",
        options=state.options or None,
    )
    log.info("job %s: retry %d sent %d failed items", job_id, taken.attempt, len(taken.items))
    after = runtime.jobs.get(job_id, errors_limit=0)
    return RetryAccepted(
        job_id=job_id, status=after.status, requeued=len(taken.items), attempt=taken.attempt
    )
