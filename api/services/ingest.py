"""Ingest jobs: accept a request, queue its batches, and show a job's state (no Flask here)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from typing import Any

from mmsearch.api.schemas.resources import (
    IngestRequest,
    JobAccepted,
    JobError,
    JobPublic,
    RetryAccepted,
    RetryRequest,
)
from mmsearch.infra.catalog.coerce import typed_request_metadata
from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.catalog.versions import is_same_collection, metadata_fields
from mmsearch.infra.errors import Conflict, JobNotFound, TooLarge
from mmsearch.infra.jobs.idempotency import claim, release
from mmsearch.infra.jobs.items import store_items
from mmsearch.infra.jobs.retry import take_failed
from mmsearch.infra.jobs.store import (
    FINAL_STATUSES,
    JobState,
    JobStatus,
    JobStore,
    new_job_id,
)
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.vectors import VectorStore
from mmsearch.workers.dispatch import TaskSender, checked_items, queue_items

log = logging.getLogger(__name__)


def check_item_count(body: dict[str, Any], limit: int) -> None:
    """Refuse a raw ingest body of more than `limit` items (413), before validating them."""
    items = body.get("items")
    if isinstance(items, list) and len(items) > limit:
        raise TooLarge(
            f"{len(items)} items exceeds the limit of {limit} per request", details={"limit": limit}
        )


# Requests of at most this many batches are queued before the 202; larger ones are stored and
# fanned out into batches by a worker, so the response never waits on thousands of sends.
INLINE_BATCHES = 8


def submit_ingest(
    vectors: VectorStore,
    jobs: JobStore,
    sender: TaskSender,
    objects: ObjectStore,
    batch_size: int,
    collection: str,
    body: IngestRequest,
    tenant: str | None = None,
    *,
    metadata_limits: MetadataLimits | None = None,
    idempotency: tuple[str, str] | None = None,
) -> JobAccepted:
    """Create a job and queue its batches of `batch_size`; the workers do the rest (stamping
    `tenant`). Metadata takes the collection's declared types: an item whose metadata exceeds
    `metadata_limits` or cannot be converted fails as `invalid_metadata`; the request's own
    `metadata` that cannot be converted is 422.
    `idempotency` (key, body digest): a request repeated with the same key gets the first job."""
    spec = vectors.get_collection(collection).spec  # 404 before any job
    schema = metadata_fields(spec)
    shared = typed_request_metadata(schema, body.metadata)  # 422 before any job
    options = body.model_dump(
        include={"auto_labels", "dedup_threshold", "video"}, exclude_none=True
    )
    if tenant is not None:
        options["tenant"] = tenant
    if body.prefix is not None:
        # A bad prefix, or one outside the tenant's sources, is refused before any job exists.
        objects.parse(body.prefix, prefix=True, tenant=tenant)
    job_id = new_job_id()
    if idempotency is not None:
        held = _first_job(jobs, (tenant or "", collection, idempotency[0]), idempotency[1], job_id)
        if held is not None:
            return _accepted(held)
    create = partial(
        jobs.create, options=options, tenant=tenant, incarnation=spec.incarnation, job_id=job_id
    )
    if body.prefix is not None:
        create(collection, 0, listing=True)
        sender.prefix(job_id, collection, body.prefix, shared, options=options or None)
        return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=None)
    items: list[dict[str, Any]] = list(body.items or [])  # type: ignore[arg-type]
    if len(items) <= INLINE_BATCHES * batch_size:
        create(collection, len(items))
        checked = checked_items(items, shared, metadata_limits or MetadataLimits(), schema)
        queue_items(jobs, sender, job_id, collection, checked, batch_size, options or None)
    else:
        store_items(jobs, job_id, items, jobs.ttl_s)  # before the job: a job always has its items
        create(collection, len(items), listing=True)
        sender.stored_items(job_id, collection, shared, options=options or None)
    return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=len(items))


def _first_job(
    jobs: JobStore, scope: tuple[str, str, str], digest: str, job_id: str
) -> JobState | None:
    """The job an earlier request with this idempotency key started (None: `job_id` is now
    bound to the key). A key whose job was never created (that request died first) is taken."""
    held = claim(jobs.redis, scope, digest, job_id, jobs.ttl_s)
    if held is None:
        return None
    try:
        return jobs.get(held, errors_limit=0)
    except JobNotFound:
        release(jobs.redis, scope)
        held = claim(jobs.redis, scope, digest, job_id, jobs.ttl_s)
        return None if held is None else jobs.get(held, errors_limit=0)


def _accepted(state: JobState) -> JobAccepted:
    """The 202 body of a job already accepted."""
    total = None if state.listing and state.total == 0 else state.total
    return JobAccepted(job_id=state.job_id, status=state.status, total=total)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def job_public(state: JobState) -> JobPublic:
    """The public view of a job."""
    shared = {name: getattr(state, name) for name in JobPublic.model_fields if hasattr(state, name)}
    sync = asdict(state.sync) if state.sync is not None else {}
    return JobPublic(
        **{
            **shared,
            **sync,
            "errors": [JobError(**e.public()) for e in state.errors],
            "created_at": _iso(state.created_at),
            "updated_at": _iso(state.updated_at),
        }
    )


def job_state(jobs: JobStore, job_id: str, tenant: str | None = None, **page: int) -> JobState:
    """A job's state; 404 for a job of another tenant, as for one that does not exist."""
    state = jobs.get(job_id, **page)
    if tenant is not None and state.tenant != tenant:
        raise JobNotFound(f"job {job_id} not found")
    return state


def cancel(jobs: JobStore, job_id: str, tenant: str | None = None) -> JobPublic:
    """Cancel a job of `tenant`; items not yet processed stay pending."""
    job_state(jobs, job_id, tenant, errors_limit=0)
    return job_public(jobs.cancel(job_id))


def retry_failed(
    vectors: VectorStore,
    jobs: JobStore,
    sender: TaskSender,
    batch_size: int,
    job_id: str,
    body: RetryRequest,
    tenant: str | None = None,
) -> RetryAccepted:
    """Send a finished job's failed items (or those with the given codes) through again."""
    state = job_state(jobs, job_id, tenant, errors_limit=0)
    if state.status == JobStatus.CANCELLED:
        raise Conflict("a cancelled job cannot be retried", code="job_cancelled")
    if state.status not in FINAL_STATUSES:
        raise Conflict(
            f"the job is still {state.status}; retry it once it has finished",
            code="job_not_finished",
        )
    current = vectors.get_collection(state.collection).spec  # 404 if it was deleted since
    if not is_same_collection(state.incarnation, current, vectors.list_specs):
        raise Conflict(
            f"collection {state.collection!r} was deleted since the job ran; the one of that "
            "name now is another collection",
            code="collection_deleted",
        )
    taken = take_failed(jobs, job_id, [str(code) for code in body.codes])
    if not taken.items:
        raise Conflict("the job has no failed items to retry", code="nothing_to_retry")
    sender.batches(
        job_id,
        state.collection,
        taken.items,
        batch_size,
        tag=f"r{taken.attempt}-",
        options=state.options or None,
    )
    log.info("job %s: retry %d sent %d failed items", job_id, taken.attempt, len(taken.items))
    after = jobs.get(job_id, errors_limit=0)
    return RetryAccepted(
        job_id=job_id, status=after.status, requeued=len(taken.items), attempt=taken.attempt
    )
