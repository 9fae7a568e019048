"""Ingest jobs: accept a request, queue its batches, and show a job's state (no Flask here)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from api.schemas import (
    IngestRequest,
    JobAccepted,
    JobError,
    JobPublic,
)
from infra.jobs import JobState, JobStatus
from infra.runtime import Runtime
from workers.dispatch import send_batches, send_prefix

log = logging.getLogger(__name__)


def submit_ingest(runtime: Runtime, collection: str, body: IngestRequest) -> JobAccepted:
    """Create a job and queue its batches; the workers do the rest."""
    runtime.vectors.get_collection(collection)  # 404 before any job exists
    jobs = runtime.jobs
    options = body.model_dump(include={"auto_labels", "dedup_threshold"}, exclude_none=True)
    if body.prefix is not None:
        runtime.objects.parse(body.prefix, prefix=True)  # a bad prefix is the client's error
        job_id = jobs.create(collection, 0, listing=True)
        send_prefix(job_id, collection, body.prefix, body.metadata, options or None)
        return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=None)
    items = body.items or []
    job_id = jobs.create(collection, len(items))
    raw = [
        {
            "uri": item.uri,
            "id": item.id,
            "metadata": {**body.metadata, **item.metadata},
            "text": item.text,
        }
        for item in items
    ]
    send_batches(job_id, collection, raw, runtime.settings.batch_size, options=options or None)
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
        errors=[JobError(**e.__dict__) for e in state.errors],
        created_at=_iso(state.created_at),
        updated_at=_iso(state.updated_at),
    )
