"""Tasks a job has sent but not yet seen counted, so that a lost one can be sent again.

A Redis broker can lose a task that a worker popped just before it died: Kombu records a
message as unacknowledged only once the reply has reached the worker. So every task a job sends
is first written here under its batch key (or `listing`), and counting that batch (or finishing
the listing) deletes it. A sweeper in the workers sends again whatever a job still holds once the
job has made no progress for a visibility timeout. Batches are idempotent, so a copy of one that
was merely slow is still counted once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from mmsearch.infra.errors import JobNotFound
from mmsearch.infra.jobs.store import FINAL_STATUSES, JobStore

ACTIVE = "mmsearch:jobs:active"
LISTING = "listing"


@dataclass(frozen=True)
class SentTask:
    task: str
    args: list[Any]


class Outbox:
    """The per-job record of sent tasks, and the set of jobs that may still need a sweep."""

    def __init__(self, store: JobStore, ttl_s: int) -> None:
        self._store = store
        self._redis = store.redis
        self._ttl_s = ttl_s

    def record(self, job_id: str, tasks: dict[str, SentTask]) -> None:
        """Note tasks about to be sent (call before sending: a crash in between re-sends)."""
        pipe = self._redis.pipeline(transaction=False)
        self.record_on(pipe, job_id, tasks)
        pipe.execute()

    def record_on(self, pipe: Any, job_id: str, tasks: dict[str, SentTask]) -> None:
        """Add the writes of `record` to a pipeline (one transaction with other writes)."""
        if not tasks:
            return
        sent_key = self._store.keys(job_id)[4]
        mapping = {key: json.dumps({"task": t.task, "args": t.args}) for key, t in tasks.items()}
        pipe.hset(sent_key, mapping=mapping)
        pipe.expire(sent_key, self._ttl_s)
        pipe.sadd(ACTIVE, job_id)

    def pending(self, job_id: str) -> dict[str, SentTask]:
        raw = self._redis.hgetall(self._store.keys(job_id)[4])
        entries = {_text(k): json.loads(v) for k, v in raw.items()}
        return {key: SentTask(e["task"], e["args"]) for key, e in entries.items()}

    def active_jobs(self) -> list[str]:
        return sorted(_text(job_id) for job_id in self._redis.smembers(ACTIVE))

    def forget(self, job_id: str) -> None:
        """Drop a finished (or vanished) job from the sweep."""
        self._redis.srem(ACTIVE, job_id)
        self._redis.delete(self._store.keys(job_id)[4])

    def stalled(self, job_id: str, stale_after_s: float) -> dict[str, SentTask] | None:
        """The tasks to send again when the job has made no progress for `stale_after_s`
        (and mark it as touched now); None when it needs nothing. Forgets finished jobs."""
        try:
            state = self._store.get(job_id, errors_limit=0)
        except JobNotFound:  # expired or deleted
            self.forget(job_id)
            return None
        if state.status in FINAL_STATUSES:
            self.forget(job_id)
            return None
        if time.time() - state.updated_at < stale_after_s:
            return None
        self._redis.hset(self._store.keys(job_id)[0], "updated_at", repr(time.time()))
        return self.pending(job_id)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
