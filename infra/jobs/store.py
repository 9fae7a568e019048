"""Ingest job state in Redis: O(1) counters, a bounded error list, idempotent batch completion."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis

from mmsearch.infra.errors import JobNotFound
from mmsearch.infra.jobs.state import (  # noqa: F401 - the job types, importable from here too
    FINAL_STATUSES,
    ItemFailure,
    JobState,
    JobStatus,
    SyncCounts,
    derive_status,
    switch_due,
)

_PREFIX = "mmsearch:job:"
_MIGRATION = "mmsearch:migration:"
RECENT = "mmsearch:jobs:recent"  # job ids by creation time (mmsearch.infra.jobs.index)
RECENT_JOBS = 1000
_JOB_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex, as `JobStore.create` makes them

# Counts a batch once even if a redelivered task finishes it again (acks_late + worker loss).
_COMPLETE_BATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local progress = {ARGV[1] .. ':loaded', ARGV[1] .. ':embedded'}
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  redis.call('HDEL', KEYS[6], unpack(progress))
  return 0
end
redis.call('HINCRBY', KEYS[1], 'succeeded', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'skipped', ARGV[4])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[5])
if tonumber(ARGV[6]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'videos', ARGV[6])
  redis.call('HINCRBY', KEYS[1], 'frames', ARGV[7])
end
local room = tonumber(ARGV[8]) - redis.call('LLEN', KEYS[3])
local listed = tonumber(ARGV[9])
for i = 10, 9 + listed do
  if room <= 0 then break end
  redis.call('RPUSH', KEYS[3], ARGV[i])
  room = room - 1
end
for i = 10 + listed, #ARGV do
  redis.call('RPUSH', KEYS[4], ARGV[i])
end
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[6], unpack(progress))  -- counted now: no longer in flight
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then
  for k = 2, 4 do redis.call('EXPIRE', KEYS[k], ttl) end
end
return 1
"""


def new_job_id() -> str:
    """A fresh job id."""
    return uuid.uuid4().hex


class JobStore:
    """Jobs as a Redis hash plus a batch-done set and a capped error list, all with a TTL."""

    def __init__(self, client: redis.Redis, *, max_errors: int, ttl_s: int) -> None:
        self._redis = client
        self._max_errors = max_errors
        self._ttl_s = ttl_s
        self._complete = client.register_script(_COMPLETE_BATCH)

    @property
    def redis(self) -> redis.Redis:
        return self._redis

    @property
    def ttl_s(self) -> int:
        """How long a job's records are kept."""
        return self._ttl_s

    @staticmethod
    def keys(job_id: str) -> tuple[str, str, str, str, str]:
        """The job's hash, counted-batch set, error list, list of failed items as sent, and
        tasks sent but not yet counted (see mmsearch.infra.jobs.outbox); JobNotFound for a
        string that is not a job id, which could otherwise name another key of a job."""
        if not _JOB_ID.fullmatch(job_id):
            raise JobNotFound(f"job {job_id[:100]!r} not found")
        base = _PREFIX + job_id
        return base, base + ":batches", base + ":errors", base + ":failed", base + ":sent"

    def progress_key(self, job_id: str) -> str:
        """The job's hash of batches in flight (see mmsearch.infra.jobs.progress)."""
        return self.keys(job_id)[0] + ":progress"

    def create(
        self,
        collection: str,
        total: int,
        *,
        listing: bool = False,
        switch_alias: str = "",
        options: dict[str, Any] | None = None,
        tenant: str | None = None,
        incarnation: str | None = None,
        job_id: str | None = None,
        extra: dict[str, str | int] | None = None,
    ) -> str:
        """A new queued job (under `job_id`, else a new id); `listing`: the total is still being
        counted, or its items are still being queued; `switch_alias`: point that alias at
        `collection` once the job has completed; `options`: the ingest options its batches run
        with (kept for retries); `incarnation`: that of the collection the job is for, so it
        never writes into another one made later under the same name; `extra`: more fields of
        its hash (a sync's, see mmsearch.infra.sync.progress)."""
        job_id = job_id or new_job_id()
        now = repr(time.time())
        key = self.keys(job_id)[0]
        mapping = {
            "collection": collection,
            "total": total,
            "succeeded": 0,
            "failed": 0,
            "skipped": 0,
            "listing": int(listing),
            "created_at": now,
            "updated_at": now,
            "cancelled": 0,
            "switch_alias": switch_alias,
            **({"switched": 0} if switch_alias else {}),
            "options": json.dumps(options or {}),
            "retries": 0,
            "tenant": tenant or "",
            "incarnation": incarnation or "",
            **(extra or {}),
        }
        pipe = self._redis.pipeline()
        pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
        pipe.expire(key, self._ttl_s)
        pipe.zadd(RECENT, {job_id: time.time()})
        pipe.zremrangebyrank(RECENT, 0, -RECENT_JOBS - 1)
        pipe.execute()
        return job_id

    def set_total(self, job_id: str, total: int, *, listing_done: bool = False) -> None:
        """Record how many items a listing job has found so far (a redelivered listing recounts)."""
        key = self.keys(job_id)[0]
        self._redis.hset(key, mapping={"total": total, "updated_at": repr(time.time())})
        if listing_done:
            self.end_listing(job_id)

    def end_listing(self, job_id: str) -> None:
        """Record that every item of the job is counted and queued (its listing task is done)."""
        self._redis.hset(self.keys(job_id)[0], "listing", 0)
        self._redis.hdel(self.keys(job_id)[4], "listing")

    def mark_started(self, job_id: str) -> None:
        """Record the first time a worker picked the job up."""
        key = self.keys(job_id)[0]
        self._redis.hsetnx(key, "started_at", repr(time.time()))

    def fail(self, job_id: str, message: str) -> None:
        """Mark the whole job failed (e.g. its prefix could not be listed)."""
        key = self.keys(job_id)[0]
        self._redis.hset(
            key, mapping={"fatal": message[:500], "listing": 0, "updated_at": repr(time.time())}
        )
        self._redis.delete(self.keys(job_id)[4])
        self._end_migration(self.get(job_id, errors_limit=0))

    def cancel(self, job_id: str) -> JobState:
        """Ask pending batches to skip; a finished job is left as it is."""
        state = self.get(job_id, errors_limit=0)
        if state.status not in FINAL_STATUSES:
            key = self.keys(job_id)[0]
            self._redis.hset(key, mapping={"cancelled": 1, "updated_at": repr(time.time())})
        state = self.get(job_id, errors_limit=0)
        self._end_migration(state)
        return state

    # A re-embed job marks its collection as migrating, so that items ingested meanwhile are
    # also written to the version being built.
    def start_migration(self, public: str, target: str) -> None:
        """Mark `public` as being re-embedded into `target`."""
        self._redis.set(_MIGRATION + public, target, ex=self._ttl_s)

    def migration_target(self, public: str) -> str | None:
        """The version `public` is being re-embedded into, if any."""
        value = self._redis.get(_MIGRATION + public)
        return _text(value) if value is not None else None

    def _end_migration(self, state: JobState) -> None:
        if state.switch_alias and self.migration_target(state.switch_alias) == state.collection:
            self._redis.delete(_MIGRATION + state.switch_alias)

    def end_migration(self, state: JobState) -> None:
        """Clear the migration mark a finished re-embed job set, and record its last step run
        (the job then reports its final status)."""
        self._end_migration(state)
        if state.switch_alias:
            self._redis.hset(self.keys(state.job_id)[0], "switched", 1)

    def incarnation(self, job_id: str) -> str | None:
        """The incarnation of the collection the job is for (None: not recorded)."""
        value = self._redis.hget(self.keys(job_id)[0], "incarnation")
        return _text(value) if value else None

    def is_cancelled(self, job_id: str) -> bool:
        key = self.keys(job_id)[0]
        return self._redis.hget(key, "cancelled") in (b"1", "1")

    def complete_batch(
        self,
        job_id: str,
        batch: str,
        *,
        succeeded: int,
        failed: list[ItemFailure],
        skipped: Sequence[ItemFailure] = (),
        videos: int = 0,
        frames: int = 0,
    ) -> bool:
        """Count one batch's outcome exactly once; False if it was already counted. Of the
        succeeded items, `videos` were videos, indexed as `frames` frames.

        Skipped items (e.g. skipped_duplicate) are listed with the errors but counted apart.
        Every failed item is also kept whole (uncapped) for `POST /v1/jobs/{id}/retry`.
        """
        errors = [json.dumps(f.public()) for f in (*failed, *skipped)]
        retryable = [json.dumps({**f.public(), "item": f.item}) for f in failed if f.item]
        args: list[Any] = [batch, succeeded, len(failed), len(skipped), repr(time.time())]
        args += [videos, frames]
        result = self._complete(
            keys=[*self.keys(job_id), self.progress_key(job_id)],
            args=[*args, self._max_errors, len(errors), *errors, *retryable],
        )
        if result == -1:
            raise JobNotFound(f"job {job_id} not found")
        return bool(result == 1)

    def get(self, job_id: str, *, errors_limit: int = 100, errors_offset: int = 0) -> JobState:
        """The job's state: counters, derived status, and a page of its item errors."""
        key, _, errors_key, _, _ = self.keys(job_id)
        pipe = self._redis.pipeline()
        pipe.hgetall(key)
        pipe.llen(errors_key)
        pipe.hgetall(self.progress_key(job_id))
        if errors_limit > 0:
            pipe.lrange(errors_key, errors_offset, errors_offset + errors_limit - 1)
        raw, error_count, in_flight, *pages = pipe.execute()
        if not raw:
            raise JobNotFound(f"job {job_id} not found")
        fields = {_text(k): _text(v) for k, v in raw.items()}
        total, succeeded = int(fields["total"]), int(fields["succeeded"])
        failed, skipped = int(fields["failed"]), int(fields.get("skipped", 0))
        errors = [ItemFailure(**json.loads(item)) for item in (pages[0] if pages else [])]
        counted = derive_status(fields, succeeded + failed + skipped, total)
        due = switch_due(fields, counted)
        return JobState(
            job_id=job_id,
            collection=fields["collection"],
            status=JobStatus.RUNNING if due else counted,
            switch_due=due,
            counted=counted,
            total=total,
            succeeded=succeeded,
            failed=failed,
            skipped=skipped,
            videos=int(fields.get("videos", 0)),
            frames=int(fields.get("frames", 0)),
            listing=fields.get("listing") == "1",
            created_at=float(fields["created_at"]),
            updated_at=float(fields["updated_at"]),
            error_count=int(error_count),
            errors=errors,
            message=fields.get("fatal") or None,
            switch_alias=fields.get("switch_alias") or None,
            options=json.loads(fields.get("options") or "{}"),
            retries=int(fields.get("retries", 0)),
            tenant=fields.get("tenant") or None,
            incarnation=fields.get("incarnation") or None,
            started_at=float(fields["started_at"]) if fields.get("started_at") else None,
            loaded=_in_flight(in_flight, ":loaded"),
            embedded=_in_flight(in_flight, ":embedded"),
            sync=SyncCounts.from_fields(fields),
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _in_flight(progress: dict[bytes, bytes], suffix: str) -> int:
    """The sum of one count over the batches in flight."""
    return sum(int(v) for k, v in progress.items() if _text(k).endswith(suffix))
