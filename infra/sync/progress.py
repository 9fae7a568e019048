"""Where a sync job stands, kept in its job's hash so that a sync whose worker died resumes.

A sync takes its source's listing a page at a time. Each page's outcome (its counts, the batch
tasks it sends, the items it refused, and the key it ended at) is written in one transaction
before its tasks are sent: a sync started again skips the pages written, and the outbox sends
again any task of them that was lost. A page whose transaction never ran is compared again from
the start; what it did before (marking unchanged items as seen) is idempotent. One runner holds
a sync at a time (a lease its thread renews; it lapses a minute after the runner's process is
gone), and the transaction runs only for the runner holding it, on the page that comes next, so
a second copy of the task never writes a page twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

import redis

from mmsearch.infra.jobs.outbox import Outbox, SentTask
from mmsearch.infra.jobs.state import SYNC_COUNTERS
from mmsearch.infra.jobs.store import ItemFailure, JobStore

log = logging.getLogger(__name__)

_KEYS = ":sync-keys"  # an event sync's keys to look at, in order
_LEASE = ":sync-lease"  # the runner holding the sync (a copy of its task finds it held)
_REFUSED = ":sync-refused"  # items a written page refused, until they are counted
LEASE_MS = 60_000  # renewed from a thread: a runner that died frees the sync this long after
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class SyncKind(StrEnum):
    FULL = "full"  # list the whole source; remove the items of objects not seen
    EVENTS = "events"  # look at the keys bucket events named


class Phase(StrEnum):
    LISTING = "listing"
    REMOVING = "removing"  # every page is written: the unseen items go
    DONE = "done"


@dataclass(frozen=True)
class Checkpoint:
    """A sync's position: pages written, the last key of them, its phase, and how many of the
    source's items it has seen (`matched`)."""

    source_id: str
    kind: SyncKind
    dry_run: bool
    listed_ns: int
    page: int = 0
    after: str | None = None
    phase: Phase = Phase.LISTING
    matched: int = 0


@dataclass(frozen=True)
class Page:
    """One written page: its number, the key it ended at, its counts (the sync counters and
    `matched`), the items it sent (or refused) and the batch tasks that send them."""

    number: int
    after: str
    counts: Mapping[str, int]
    items: int = 0
    tasks: dict[str, SentTask] = field(default_factory=dict)
    refused: list[ItemFailure] = field(default_factory=list)


def sync_fields(
    source_id: str, kind: SyncKind, dry_run: bool, listed_ns: int
) -> dict[str, str | int]:
    """The job hash fields of a new sync (`JobStore.create(extra=...)`)."""
    counters: dict[str, str | int] = {name: 0 for name in SYNC_COUNTERS}
    return {
        **counters,
        "sync_source": source_id,
        "sync_kind": str(kind),
        "dry_run": int(dry_run),
        "sync_listed_ns": listed_ns,
        "sync_page": 0,
        "sync_phase": str(Phase.LISTING),
        "sync_matched": 0,
    }


class SyncProgress:
    """Reads and advances syncs' checkpoints."""

    def __init__(self, jobs: JobStore, outbox: Outbox) -> None:
        self._jobs, self._outbox, self._redis = jobs, outbox, jobs.redis
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    def load(self, job_id: str) -> Checkpoint:
        raw = self._redis.hgetall(self._jobs.keys(job_id)[0])
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return Checkpoint(
            source_id=fields["sync_source"],
            kind=SyncKind(fields.get("sync_kind", SyncKind.FULL)),
            dry_run=fields.get("dry_run") == "1",
            listed_ns=int(fields.get("sync_listed_ns", 0)),
            page=int(fields.get("sync_page", 0)),
            after=fields.get("sync_after") or None,
            phase=Phase(fields.get("sync_phase", Phase.LISTING)),
            matched=int(fields.get("sync_matched", 0)),
        )

    def commit_page(
        self,
        job_id: str,
        runner: str,
        page: Page,
    ) -> bool:
        """Write one page's outcome in one transaction, fenced: only while `runner` holds the
        sync and the page is the next one (False otherwise: another runner took over)."""
        key, lease = self._jobs.keys(job_id)[0], self._jobs.keys(job_id)[0] + _LEASE
        refused = [json.dumps({**f.public(), "item": f.item}) for f in page.refused]
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(lease)
                    held, number = pipe.get(lease), pipe.hget(key, "sync_page")
                    if _text(held or b"") != runner or int(number or 0) != page.number:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    for name, value in page.counts.items():
                        if value:
                            field = name if name in SYNC_COUNTERS else f"sync_{name}"
                            pipe.hincrby(key, field, value)
                    pipe.hincrby(key, "total", page.items)
                    pipe.hincrby(key, "sync_page", 1)
                    pipe.hset(
                        key, mapping={"sync_after": page.after, "updated_at": repr(time.time())}
                    )
                    if refused:
                        pipe.hset(key + _REFUSED, str(page.number), json.dumps(refused))
                        pipe.expire(key + _REFUSED, self._jobs.ttl_s)
                    self._outbox.record_on(pipe, job_id, page.tasks)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def settle_refused(self, job_id: str) -> None:
        """Count the refused items of the pages written (once per page, whoever counts)."""
        name = self._jobs.keys(job_id)[0] + _REFUSED
        for number, raw in self._redis.hgetall(name).items():
            failures = [ItemFailure(**json.loads(entry)) for entry in json.loads(raw)]
            batch = f"s{_text(number)}-refused"
            self._jobs.complete_batch(job_id, batch, succeeded=0, failed=failures)
            self._redis.hdel(name, number)

    @contextmanager
    def held(self, job_id: str, runner: str) -> Iterator[bool]:
        """Hold the sync for `runner` while in the block (renewed from a thread, so it lapses
        only once the process is gone); False when another runner holds it."""
        name = self._jobs.keys(job_id)[0] + _LEASE
        if not self._redis.set(name, runner, nx=True, px=LEASE_MS):
            yield False
            return
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(LEASE_MS / 4000):
                try:
                    if not self._renew(keys=[name], args=[runner, LEASE_MS]):
                        return
                except redis.RedisError as exc:
                    log.warning("sync %s: could not renew its lease: %s", job_id, exc)

        thread = threading.Thread(target=renew, name=f"lease-{job_id[:8]}", daemon=True)
        thread.start()
        try:
            yield True
        finally:
            stop.set()
            thread.join(timeout=LEASE_MS / 1000)
            try:
                self._release(keys=[name], args=[runner])
            except redis.RedisError as exc:  # it lapses by itself
                log.warning("sync %s: could not release its lease: %s", job_id, exc)

    def holds(self, job_id: str, runner: str) -> bool:
        """Whether `runner` still holds the sync."""
        held = self._redis.get(self._jobs.keys(job_id)[0] + _LEASE)
        return held is not None and _text(held) == runner

    def start_removing(self, job_id: str, removed: int | None = None) -> None:
        """Every page is written: what is gone goes now (a dry run: `removed` would)."""
        key = self._jobs.keys(job_id)[0]
        self._redis.hset(
            key, mapping={"sync_phase": str(Phase.REMOVING), "updated_at": repr(time.time())}
        )
        if removed is not None:
            self._redis.hset(key, "removed", removed)

    def add_removed(self, job_id: str, removed: int) -> None:
        """Count items removed (and that the sync is moving)."""
        key = self._jobs.keys(job_id)[0]
        self._redis.hincrby(key, "removed", removed)
        self._redis.hset(key, "updated_at", repr(time.time()))

    def finish(self, job_id: str) -> None:
        self._redis.hset(self._jobs.keys(job_id)[0], "sync_phase", str(Phase.DONE))

    def store_keys(self, job_id: str, keys: list[str]) -> None:
        """The keys an event sync looks at (before its task is sent)."""
        name = self._jobs.keys(job_id)[0] + _KEYS
        if keys:
            self._redis.rpush(name, *keys)
            self._redis.expire(name, self._jobs.ttl_s)

    def keys_page(self, job_id: str, page: int, size: int) -> list[str]:
        """Page `page` of an event sync's keys (empty past the last)."""
        name = self._jobs.keys(job_id)[0] + _KEYS
        return [_text(k) for k in self._redis.lrange(name, page * size, (page + 1) * size - 1)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
