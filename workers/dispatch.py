"""Split work into batch tasks and send them, by name, to the ingest queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from mmsearch.infra.jobs.outbox import LISTING, Outbox, SentTask
from mmsearch.workers.celery_app import COPY_COLLECTION, EXPAND_PREFIX, INGEST_BATCH, celery_app

log = logging.getLogger(__name__)


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def send_batches(
    outbox: Outbox,
    job_id: str,
    collection: str,
    items: Iterable[dict[str, Any]],
    batch_size: int,
    *,
    tag: str = "b",
    options: dict[str, Any] | None = None,
) -> int:
    """Queue one `ingest_batch` task per chunk (batch keys `tag0`, `tag1`...); return item count.

    Each is written to the job's outbox first, so one the broker loses is sent again."""
    sent = 0
    with celery_app.producer_or_acquire() as producer:
        for index, chunk in enumerate(chunked(items, batch_size)):
            args = [job_id, collection, f"{tag}{index}", chunk, options]
            outbox.record(job_id, {f"{tag}{index}": SentTask(INGEST_BATCH, args)})
            celery_app.send_task(INGEST_BATCH, args=args, producer=producer)
            sent += len(chunk)
    log.info("job %s: queued %d items for %s", job_id, sent, collection)
    return sent


def send_prefix(
    outbox: Outbox,
    job_id: str,
    collection: str,
    prefix: str,
    metadata: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> None:
    """Queue the task that lists a prefix and fans it out into batches."""
    _send_listing(outbox, job_id, EXPAND_PREFIX, [job_id, collection, prefix, metadata, options])


def send_collection_copy(outbox: Outbox, job_id: str, source: str, target: str) -> None:
    """Queue the task that re-embeds every item of `source` into `target`."""
    _send_listing(outbox, job_id, COPY_COLLECTION, [job_id, source, target])


def _send_listing(outbox: Outbox, job_id: str, task: str, args: list[Any]) -> None:
    outbox.record(job_id, {LISTING: SentTask(task, args)})  # first: a lost send is re-sent
    celery_app.send_task(task, args=args)
