"""Split work into batch tasks and send them, by name, to the ingest queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from celery import Celery

from mmsearch.infra.jobs.outbox import LISTING, Outbox, SentTask
from mmsearch.workers.celery_app import COPY_COLLECTION, EXPAND_PREFIX, INGEST_BATCH

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
        with self.celery.producer_or_acquire() as producer:
            for index, chunk in enumerate(chunked(items, batch_size)):
                args = [job_id, collection, f"{tag}{index}", chunk, options]
                self.outbox.record(job_id, {f"{tag}{index}": SentTask(INGEST_BATCH, args)})
                self.celery.send_task(INGEST_BATCH, args=args, producer=producer)
                sent += len(chunk)
        log.info("job %s: queued %d items for %s", job_id, sent, collection)
        return sent

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

    def collection_copy(self, job_id: str, source: str, target: str) -> None:
        """Queue the task that re-embeds every item of `source` into `target`."""
        self._listing(job_id, COPY_COLLECTION, [job_id, source, target])

    def resend(self, sent: SentTask) -> None:
        """Send again a task the outbox still holds (it is recorded there already)."""
        self.celery.send_task(sent.task, args=sent.args)

    def _listing(self, job_id: str, task: str, args: list[Any]) -> None:
        self.outbox.record(job_id, {LISTING: SentTask(task, args)})  # first: a lost send is re-sent
        self.celery.send_task(task, args=args)
