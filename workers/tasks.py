"""Thin Celery tasks over the plain pipeline functions; they take ids and references only.

Task bodies (and the worker's start hook) are where the process's runtime is fetched: each hands
the functions below it the stores they use.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Task
from celery.signals import task_prerun, worker_ready
from prometheus_client import start_http_server

from mmsearch.infra.errors import CollectionNotFound, ItemError, ItemErrorCode, Unavailable
from mmsearch.infra.logs import log_context
from mmsearch.infra.media.video_items import VideoPolicy
from mmsearch.infra.runtime import Runtime, get_runtime
from mmsearch.infra.sync.progress import LEASE_MS
from mmsearch.infra.threads import lower_this_thread
from mmsearch.workers.celery_app import (
    COPY_COLLECTION,
    EXPAND_PREFIX,
    FAN_OUT_ITEMS,
    FILL_KEYWORDS,
    INGEST_BATCH,
    SYNC_DUE,
    SYNC_SOURCE,
    celery_app,
)
from mmsearch.workers.dispatch import TaskSender, chunked
from mmsearch.workers.enrich import IngestOptions
from mmsearch.workers.keywords import fill_keywords
from mmsearch.workers.listing import (
    collection_items,
    fan_out_stored,
    prefix_items,
    queue_listing,
)
from mmsearch.workers.media import MediaLoader
from mmsearch.workers.pipeline import (
    UpsertFailed,
    failed_batch,
    record_outcome,
    run_batch,
)
from mmsearch.workers.schedule import Syncs, tick
from mmsearch.workers.sync import SyncContext, run_sync

log = logging.getLogger(__name__)


def media_loader(runtime: Runtime) -> MediaLoader:
    """The media loader over the runtime's object store, fetch threads and feeder."""
    s = runtime.settings
    return MediaLoader(
        runtime.objects,
        runtime.fetch_pool,
        max_pixels=s.max_image_pixels,
        min_side=s.decode_min_side,
        feeder=runtime.feeder,
        video=VideoPolicy.from_settings(s),
    )


def task_sender(task: Task, runtime: Runtime) -> TaskSender:
    """Sends follow-up tasks through the Celery app that runs `task`, recorded in the outbox."""
    return TaskSender(task.app, runtime.outbox)


# A batch that fails because Redis (the job state) is unreachable is left unacknowledged, so it
# is delivered again once its visibility timeout passes; every other failure is recorded against
# the batch's items, so no message is redelivered forever and no item is left pending.
@celery_app.task(bind=True, name=INGEST_BATCH, max_retries=None, acks_on_failure_or_timeout=False)
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
    with log_context(job=job_id, collection=collection, batch=batch):
        _ingest_batch(self, runtime, job_id, collection, batch, items, options)


def _ingest_batch(
    task: Task,
    runtime: Runtime,
    job_id: str,
    collection: str,
    batch: str,
    items: list[dict[str, Any]],
    options: dict[str, Any] | None,
) -> None:
    jobs, vectors = runtime.jobs, runtime.vectors
    try:
        run_batch(
            jobs,
            vectors,
            media_loader(runtime),
            runtime.encoder,
            job_id,
            collection,
            batch,
            items,
            IngestOptions.from_dict(options),
        )
    except (UpsertFailed, Unavailable) as exc:  # the store refused or is unreachable: retried
        if task.request.retries < runtime.settings.upsert_retries:
            log.warning("job %s batch %s: upsert failed (%s), retrying", job_id, batch, exc)
            raise task.retry(exc=exc, countdown=min(60, 2**task.request.retries)) from exc
        log.error("job %s batch %s: upsert failed after retries: %s", job_id, batch, exc)
        outcome = failed_batch(items, ItemErrorCode.UPSERT_FAILED, f"vector store: {exc}")
        record_outcome(jobs, vectors, job_id, batch, outcome)
    except (redis.ConnectionError, redis.TimeoutError):
        log.warning("job %s batch %s: Redis unreachable; it will be redelivered", job_id, batch)
        raise
    except Exception as exc:
        log.exception("job %s batch %s: unexpected error", job_id, batch)
        outcome = failed_batch(items, ItemErrorCode.INTERNAL_ERROR, type(exc).__name__)
        record_outcome(jobs, vectors, job_id, batch, outcome)


@celery_app.task(bind=True, name=EXPAND_PREFIX)
def expand_prefix(
    self: Task,
    job_id: str,
    collection: str,
    prefix: str,
    metadata: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> None:
    """List a prefix and queue its images as batches, counting the job's total as it goes."""
    runtime = get_runtime()
    s = runtime.settings
    tenant = IngestOptions.from_dict(options).tenant
    items = prefix_items(runtime.objects, prefix, metadata, s.max_prefix_objects, tenant)
    chunks, sender = chunked(items, s.batch_size), task_sender(self, runtime)
    try:
        queue_listing(runtime.jobs, sender, runtime.vectors, job_id, collection, chunks, options)
    except ItemError as exc:
        log.warning("job %s: cannot list %s: %s", job_id, prefix, exc.message)
        runtime.jobs.fail(job_id, f"{exc.code}: {exc.message}")


@celery_app.task(bind=True, name=FAN_OUT_ITEMS)
def fan_out_items(
    self: Task,
    job_id: str,
    collection: str,
    metadata: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> None:
    """Queue the items an ingest request stored for its job, as batches."""
    runtime = get_runtime()
    s = runtime.settings
    sender = task_sender(self, runtime)
    with log_context(job=job_id, collection=collection):
        fan_out_stored(
            runtime.jobs,
            sender,
            runtime.vectors,
            job_id,
            collection,
            metadata,
            s.metadata_limits,
            s.batch_size,
            options,
        )


@celery_app.task(bind=True, name=COPY_COLLECTION)
def copy_collection(self: Task, job_id: str, source: str, target: str) -> None:
    """Re-embed every item of `source` into `target` (a model migration)."""
    runtime = get_runtime()
    chunks = chunked(collection_items(runtime.vectors, source), runtime.settings.batch_size)
    sender = task_sender(self, runtime)
    try:
        queue_listing(runtime.jobs, sender, runtime.vectors, job_id, target, chunks)
    except CollectionNotFound as exc:
        runtime.jobs.fail(job_id, f"collection_not_found: {exc.message}")


@celery_app.task(bind=True, name=FILL_KEYWORDS)
def fill_keyword_vectors(self: Task, job_id: str, collection: str) -> None:
    """Fill in the keyword vectors of a collection given its keyword index late."""
    runtime = get_runtime()
    with log_context(job=job_id, collection=collection):
        fill_keywords(runtime.jobs, runtime.vectors, job_id, collection)


def sync_context(task: Task, runtime: Runtime) -> SyncContext:
    """What a source's sync works with, in this process."""
    s = runtime.settings
    return SyncContext(
        runtime.jobs,
        task_sender(task, runtime),
        runtime.vectors,
        runtime.objects,
        runtime.sources,
        page_size=s.sync_page_size,
        batch_size=s.batch_size,
        limits=s.metadata_limits,
        max_bytes=max(s.max_image_bytes, s.max_video_bytes),
    )


def syncs(task: Task, runtime: Runtime) -> Syncs:
    """Starts sources' syncs from this process."""
    return Syncs(runtime.jobs, runtime.sources, task_sender(task, runtime), runtime.vectors)


@celery_app.task(bind=True, name=SYNC_SOURCE, max_retries=3)
def sync_source(self: Task, job_id: str) -> None:
    """Sync a source (or resume its sync): compare, queue what changed, remove what is gone.
    While another runner holds the sync, try again once its lease could have lapsed (a few
    times: a runner that lives goes on, and a job that stops moving is sent again)."""
    with log_context(job=job_id):
        if not run_sync(sync_context(self, get_runtime()), job_id):
            if self.request.retries < (self.max_retries or 0):
                raise self.retry(countdown=LEASE_MS / 1000)


@celery_app.task(bind=True, name=SYNC_DUE)
def sync_due(self: Task) -> None:
    """Start the syncs that are due (sent by Celery beat every MMSEARCH_SYNC_TICK_S)."""
    runtime = get_runtime()
    tick(syncs(self, runtime), runtime.settings.bucket_events_key)


@task_prerun.connect
def yield_to_queries(**_: Any) -> None:
    """Every task of this app is ingest work: it runs below the API's threads' priority."""
    lower_this_thread(get_runtime().settings.ingest_nice)


@worker_ready.connect
def serve_metrics(**_: Any) -> None:
    """Serve this worker's metrics on MMSEARCH_WORKER_METRICS_PORT when that is set."""
    port = get_runtime().settings.worker_metrics_port
    if port:
        start_http_server(port)
        log.info("worker metrics on :%d/metrics", port)
