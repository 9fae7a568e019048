"""Starting syncs: on request, on each source's schedule, and for the keys bucket events named.

`tick` runs every few seconds: from Celery beat in a cluster (the `sync_due` task), from a
thread of the standalone process. It turns bucket events waiting in Redis into the keys each
source should look at, then starts an event sync for a source with such keys and a full sync
for a source whose interval has passed, never while that source's previous sync runs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import redis

from mmsearch.infra.errors import CollectionNotFound, JobNotFound, SyncRunning
from mmsearch.infra.jobs.store import FINAL_STATUSES, JobStore, new_job_id
from mmsearch.infra.sync.progress import SyncKind, SyncProgress, sync_fields
from mmsearch.infra.sync.sources import Source, SourceStore
from mmsearch.infra.vectors import VectorStore
from mmsearch.workers.dispatch import TaskSender

log = logging.getLogger(__name__)

EVENT_KEYS_PER_SYNC = 10_000  # keys one event sync looks at (more wait for the next)
EVENTS_PER_TICK = 50_000
# A claim whose job is not written yet (its creator is between the two steps) still holds.
_CLAIM_GRACE_S = 30.0


@dataclass(frozen=True)
class Syncs:
    """What starting a sync needs."""

    jobs: JobStore
    sources: SourceStore
    sender: TaskSender
    vectors: VectorStore

    def start(self, source: Source, *, dry_run: bool = False, keys: list[str] | None = None) -> str:
        """Create a sync job of `source` and queue it: a full one, or one of `keys` alone;
        SyncRunning while its previous sync runs, CollectionNotFound once its collection is
        gone."""
        spec = self.vectors.get_collection(source.collection).spec
        job_id = new_job_id()
        full = keys is None
        running = self.sources.claim(source.id, job_id, self._is_running, full=full)
        if running is not None:
            raise SyncRunning(
                f"source {source.id} is being synced by job {running}",
                details={"job_id": running},
            )
        kind = SyncKind.FULL if full else SyncKind.EVENTS
        try:
            if keys:
                SyncProgress(self.jobs, self.sender.outbox).store_keys(job_id, keys)
            self.jobs.create(
                source.collection,
                0,
                listing=True,
                options=source.job_options(),
                tenant=source.tenant,
                incarnation=spec.incarnation,
                job_id=job_id,
                extra=sync_fields(source.id, kind, dry_run, time.time_ns()),
            )
            self.sender.source_sync(job_id)
        except BaseException:
            self.sources.release(source.id, job_id)
            raise
        log.info("source %s: %s sync started as job %s", source.id, kind, job_id)
        return job_id

    def _is_running(self, job_id: str, claimed_at: float | None) -> bool:
        try:
            return self.jobs.get(job_id, errors_limit=0).status not in FINAL_STATUSES
        except JobNotFound:  # expired, or about to be written by the claim's owner
            return claimed_at is not None and time.time() - claimed_at < _CLAIM_GRACE_S

    def running(self, source: Source) -> bool:
        slot = self.sources.slot(source.id)
        return slot.job_id is not None and self._is_running(slot.job_id, slot.started_at)


def tick(syncs: Syncs, events_key: str | None, now: float | None = None) -> list[str]:
    """Start what is due (see the module's docstring); the jobs started."""
    now = time.time() if now is None else now
    sources = syncs.sources.all()
    if events_key:
        take_events(syncs.jobs.redis, events_key, sources, syncs.sources)
    started = []
    for source in sources:
        try:
            job_id = _start_due(syncs, source, now)
        except (SyncRunning, CollectionNotFound) as exc:
            log.info("source %s: no sync started: %s", source.id, exc)
            continue
        if job_id is not None:
            started.append(job_id)
    return started


def _start_due(syncs: Syncs, source: Source, now: float) -> str | None:
    if syncs.running(source):
        return None
    if syncs.sources.has_pending(source.id):
        keys = syncs.sources.take_pending(source.id, EVENT_KEYS_PER_SYNC)
        try:
            return syncs.start(source, keys=keys)
        except BaseException:
            syncs.sources.add_pending(source.id, keys)  # looked at by a later sync
            raise
    if source.interval_s:
        slot = syncs.sources.slot(source.id)
        last = slot.full_at or slot.started_at or source.created_at
        if now >= last + source.interval_s:
            return syncs.start(source)
    return None


def take_events(client: redis.Redis, key: str, sources: list[Source], store: SourceStore) -> int:
    """Move MinIO bucket events (Redis target, `access` format: a list of JSON records) from
    `key` to the keys each source should look at; how many events were taken."""
    taken = 0
    while taken < EVENTS_PER_TICK:
        batch: Any = client.lpop(key, 500)
        if not batch:
            break
        taken += len(batch)
        named: dict[str, set[str]] = {}
        for bucket, object_key in _event_objects(batch):
            for source in sources:
                below = source.key_of(f"s3://{bucket}/{object_key}")
                if below is not None and source.takes(below):
                    named.setdefault(source.id, set()).add(below)
        for source_id, keys in named.items():
            store.add_pending(source_id, keys)
    return taken


def _event_objects(raw: Iterable[bytes | str]) -> Iterable[tuple[str, str]]:
    """(bucket, key) of each S3 event record in MinIO's access-format entries."""
    for entry in raw:
        try:
            decoded: Any = json.loads(entry)
        except ValueError:
            log.warning("bucket events: an entry that is not JSON was dropped")
            continue
        for access in decoded if isinstance(decoded, list) else [decoded]:
            if not isinstance(access, dict):
                continue
            records = access.get("Event") or access.get("Records") or []
            for record in records if isinstance(records, list) else []:
                s3: Any = record.get("s3") if isinstance(record, dict) else None
                try:
                    yield s3["bucket"]["name"], unquote_plus(s3["object"]["key"])
                except (KeyError, TypeError):
                    log.warning("bucket events: a record without bucket and key was dropped")


def run_scheduler(
    syncs: Syncs, events_key: str | None, tick_s: float, stop: threading.Event
) -> None:
    """Call `tick` every `tick_s` until `stop` is set (the standalone process's scheduler)."""
    while not stop.wait(tick_s):
        try:
            tick(syncs, events_key)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("scheduler: Redis unreachable (%s); next try in %.0f s", exc, tick_s)
        except Exception:
            log.exception("scheduler: a tick failed; next try in %.0f s", tick_s)
