"""Split work into batch tasks and send them, by name, to the ingest queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from celery import Celery

from mmsearch.infra.catalog.coerce import MetadataTypeError, coerce_metadata
from mmsearch.infra.catalog.metadata import MetadataLimits, metadata_problem
from mmsearch.infra.errors import ItemErrorCode
from mmsearch.infra.jobs.outbox import LISTING, Outbox, SentTask
from mmsearch.infra.jobs.store import ItemFailure, JobStore
from mmsearch.infra.vectors.types import FieldType
from mmsearch.workers.celery_app import (
    COPY_COLLECTION,
    EXPAND_PREFIX,
    FAN_OUT_ITEMS,
    FILL_KEYWORDS,
    INGEST_BATCH,
    SYNC_SOURCE,
)

log = logging.getLogger(__name__)

# A job's ingest options as its tasks carry them (read back by workers.enrich.IngestOptions).
JobOptions = dict[str, Any] | None


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class TaskSender:
    """Sends a job's tasks by name through `celery`, each written to `outbox` first, so one the
    broker loses is sent again."""

    celery: Celery
    outbox: Outbox

    def batches(
        self,
        job_id: str,
        collection: str,
        items: Iterable[dict[str, Any]],
        batch_size: int,
        *,
        tag: str = "b",
        options: JobOptions = None,
    ) -> int:
        """Queue one `ingest_batch` task per chunk (batch keys `tag0`, `tag1`...); item count."""
        sent = 0
        tasks = batch_tasks(job_id, collection, items, batch_size, tag=tag, options=options)
        with self.celery.producer_or_acquire() as producer:
            for key, task in tasks.items():  # each recorded before it is sent
                self.outbox.record(job_id, {key: task})
                self.send({key: task}, producer=producer)
                sent += len(task.args[3])
        log.info("job %s: queued %d items for %s", job_id, sent, collection)
        return sent

    def send(self, tasks: dict[str, SentTask], producer: Any = None) -> None:
        """Send tasks the outbox holds already (in key order)."""
        for _, sent in sorted(tasks.items()):
            self.celery.send_task(sent.task, args=sent.args, producer=producer)

    def prefix(
        self,
        job_id: str,
        collection: str,
        prefix: str,
        metadata: dict[str, Any],
        *,
        options: JobOptions = None,
    ) -> None:
        """Queue the task that lists a prefix and fans it out into batches."""
        self._listing(job_id, EXPAND_PREFIX, [job_id, collection, prefix, metadata, options])

    def stored_items(
        self,
        job_id: str,
        collection: str,
        metadata: dict[str, Any],
        *,
        options: JobOptions = None,
    ) -> None:
        """Queue the task that fans a job's stored items out into batches."""
        self._listing(job_id, FAN_OUT_ITEMS, [job_id, collection, metadata, options])

    def collection_copy(self, job_id: str, source: str, target: str) -> None:
        """Queue the task that re-embeds every item of `source` into `target`."""
        self._listing(job_id, COPY_COLLECTION, [job_id, source, target])

    def keyword_fill(self, job_id: str, collection: str) -> None:
        """Queue the task that fills in the keyword vectors of a collection's older points."""
        self._listing(job_id, FILL_KEYWORDS, [job_id, collection])

    def source_sync(self, job_id: str) -> None:
        """Queue the task that syncs a source (the job holds which, and where it stands)."""
        self._listing(job_id, SYNC_SOURCE, [job_id])

    def resend(self, sent: SentTask) -> None:
        """Send again a task the outbox still holds (it is recorded there already)."""
        self.celery.send_task(sent.task, args=sent.args)

    def _listing(self, job_id: str, task: str, args: list[Any]) -> None:
        self.outbox.record(job_id, {LISTING: SentTask(task, args)})  # first: a lost send is re-sent
        self.celery.send_task(task, args=args)


def batch_tasks(
    job_id: str,
    collection: str,
    items: Iterable[dict[str, Any]],
    batch_size: int,
    *,
    tag: str = "b",
    options: JobOptions = None,
) -> dict[str, SentTask]:
    """The `ingest_batch` tasks of consecutive chunks of `items`, by batch key (`tag0`...)."""
    tasks = {}
    for index, chunk in enumerate(chunked(items, batch_size)):
        key = f"{tag}{index}"
        tasks[key] = SentTask(INGEST_BATCH, [job_id, collection, key, chunk, options])
    return tasks


def checked_items(
    items: Iterable[dict[str, Any]],
    metadata: dict[str, Any],
    limits: MetadataLimits,
    schema: Mapping[str, FieldType] | None = None,
) -> tuple[list[dict[str, Any]], list[ItemFailure]]:
    """The items to send, each with the request's `metadata` under its own and the fields
    `schema` declares converted to their types, and the failures of those whose metadata exceeds
    `limits` or cannot be converted (not kept for retries: they would fail again)."""
    raw, refused = [], []
    for item in items:
        merged = {**metadata, **(item.get("metadata") or {})}
        problem = metadata_problem(merged, limits)
        if problem is None:
            try:
                merged = coerce_metadata(schema or {}, merged)
            except MetadataTypeError as exc:
                problem = str(exc)
        if problem is None:
            raw.append({**item, "metadata": merged})
        else:
            code = str(ItemErrorCode.INVALID_METADATA)
            refused.append(ItemFailure(item.get("uri"), item.get("id"), code, problem))
    return raw, refused


def queue_items(
    jobs: JobStore,
    sender: TaskSender,
    job_id: str,
    collection: str,
    items: tuple[list[dict[str, Any]], list[ItemFailure]],
    batch_size: int,
    options: dict[str, Any] | None = None,
) -> None:
    """Count the refused items of `checked_items` and queue the others in batches `b0`, `b1`...
    (fixed keys, so queueing them again counts each batch once)."""
    raw, refused = items
    if refused:
        jobs.complete_batch(job_id, "invalid-metadata", succeeded=0, failed=refused)
        log.info("job %s: %d items refused for their metadata", job_id, len(refused))
    sender.batches(job_id, collection, raw, batch_size, options=options)
