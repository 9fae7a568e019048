"""Thin Celery tasks over the plain pipeline functions; they take ids and references only."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from infra.errors import ItemError, ItemErrorCode
from infra.runtime import get_runtime
from workers.celery_app import celery_app
from workers.dispatch import chunked, send_batches
from workers.pipeline import (
    IngestOptions,
    UpsertFailed,
    failed_batch,
    record_outcome,
    run_batch,
)

log = logging.getLogger(__name__)


@celery_app.task(bind=True, name="mmsearch.ingest_batch", max_retries=None)
def ingest_batch(
    self: Task,
    job_id: str,
    collection: str,
    batch: str,
    items: list[dict[str, Any]],
    options: dict[str, Any] | None = None,
) -> None:
    """Fetch, embed and upsert one batch of a job; retry the batch while the store is down."""
    runtime = get_runtime()
    try:
        run_batch(runtime, job_id, collection, batch, items, IngestOptions.from_dict(options))
    except UpsertFailed as exc:
        if self.request.retries < runtime.settings.upsert_retries:
            log.warning("job %s batch %s: upsert failed (%s), retrying", job_id, batch, exc)
            raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc
        log.error("job %s batch %s: upsert failed after retries: %s", job_id, batch, exc)
        outcome = failed_batch(items, ItemErrorCode.UPSERT_FAILED, f"vector store: {exc}")
        record_outcome(runtime, job_id, batch, outcome)


@celery_app.task(name="mmsearch.expand_prefix")
def expand_prefix(
    job_id: str,
    collection: str,
    prefix: str,
    metadata: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> None:
    """List a prefix and queue its images as batches, counting the job's total as it goes."""
    runtime = get_runtime()
    jobs, objects = runtime.jobs, runtime.objects
    batch_size = runtime.settings.batch_size
    try:
        jobs.mark_started(job_id)
        uris = objects.list_prefix(
            objects.parse(prefix, prefix=True), runtime.settings.max_prefix_objects
        )
        total = 0
        for index, chunk in enumerate(chunked(uris, batch_size)):
            if jobs.is_cancelled(job_id):
                return
            total += len(chunk)
            jobs.set_total(job_id, total)
            items = [{"uri": uri, "metadata": metadata} for uri in chunk]
            send_batches(
                job_id, collection, items, batch_size, tag=f"p{index}-", options=options
            )
        jobs.set_total(job_id, total, listing_done=True)
    except ItemError as exc:
        log.warning("job %s: cannot list %s: %s", job_id, prefix, exc.message)
        jobs.fail(job_id, f"{exc.code}: {exc.message}")
