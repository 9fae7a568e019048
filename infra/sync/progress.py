"""Where a sync job stands, kept in its job's hash so that a sync whose worker died resumes.

A sync takes its source's listing a page at a time. Each page's outcome (its counts, the batch
tasks it sends, and the key it ended at) is written in one transaction before its tasks are
sent: a sync started again skips the pages written, and the outbox sends again any task of them
that was lost. A page whose transaction never ran is compared again from the start; what it did
before (marking unchanged items as seen) is idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from mmsearch.infra.jobs.outbox import Outbox, SentTask
from mmsearch.infra.jobs.state import SYNC_COUNTERS
from mmsearch.infra.jobs.store import JobStore

_KEYS = ":sync-keys"  # an event sync's keys to look at, in order
_LEASE = ":sync-lease"  # the runner holding the sync (a copy of its task finds it held)
LEASE_MS = 300_000  # renewed at each page: a runner that died frees it this long after
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
        after: str,
        counts: Mapping[str, int],
        items: int,
        tasks: dict[str, SentTask],
    ) -> None:
        """Write one page's outcome: `counts` (the sync counters and `matched`), `items` more
        in the job's total, the batch `tasks` to send, and the key it ended at."""
        key = self._jobs.keys(job_id)[0]
        pipe = self._redis.pipeline(transaction=True)
        for name, value in counts.items():
            if value:
                pipe.hincrby(key, name if name in SYNC_COUNTERS else f"sync_{name}", value)
        pipe.hincrby(key, "total", items)
        pipe.hincrby(key, "sync_page", 1)
        pipe.hset(key, mapping={"sync_after": after, "updated_at": repr(time.time())})
        self._outbox.record_on(pipe, job_id, tasks)
        pipe.execute()

    def hold(self, job_id: str, runner: str) -> bool:
        """Take the sync for `runner` unless another runner holds it."""
        name = self._jobs.keys(job_id)[0] + _LEASE
        return bool(self._redis.set(name, runner, nx=True, px=LEASE_MS))

    def renew(self, job_id: str, runner: str) -> bool:
        """Keep holding the sync; False once `runner` no longer holds it."""
        name = self._jobs.keys(job_id)[0] + _LEASE
        return bool(self._renew(keys=[name], args=[runner, LEASE_MS]))

    def let_go(self, job_id: str, runner: str) -> None:
        if self.renew(job_id, runner):
            self._redis.delete(self._jobs.keys(job_id)[0] + _LEASE)

    def start_removing(self, job_id: str, removed: int) -> None:
        """Every page is written; `removed` items are about to go."""
        key = self._jobs.keys(job_id)[0]
        self._redis.hset(key, mapping={"removed": removed, "sync_phase": str(Phase.REMOVING)})

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
