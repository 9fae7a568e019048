"""How far the batches in flight have got, before they are counted: items loaded (fetched and
decoded, or refused) and items embedded, published in small steps.

Progress, not accounting: a batch's entries start again from 0 when the batch (re)starts, are
removed in the same step that counts the batch (`JobStore.complete_batch`), and read as 0 once
the job is final. A batch whose worker was lost keeps its last values until it is redelivered.
"""

from __future__ import annotations

import math

from mmsearch.infra.jobs.store import JobStore

STEP = 8  # items per published step, at least
MAX_STEPS = 8  # steps per batch, at most: a large batch embeds in larger steps


def progress_step(size: int) -> int:
    """Items per step for a batch of `size` items."""
    return max(STEP, math.ceil(size / MAX_STEPS))


class BatchProgress:
    """Publishes one batch's loaded and embedded counts to its job's progress hash."""

    def __init__(self, jobs: JobStore, job_id: str, batch: str, size: int) -> None:
        self._redis = jobs.redis
        self._key = jobs.progress_key(job_id)
        self._ttl_s = jobs.ttl_s
        self._batch = batch
        self.size = size
        self.step = progress_step(size)

    def start(self) -> None:
        """Start the batch's counts from 0 (a redelivered batch starts over)."""
        pipe = self._redis.pipeline()
        pipe.hset(self._key, mapping={f"{self._batch}:loaded": 0, f"{self._batch}:embedded": 0})
        pipe.expire(self._key, self._ttl_s)
        pipe.execute()

    def loaded(self, count: int) -> None:
        """`count` items of the batch are loaded; published once per step and at the end."""
        if count % self.step == 0 or count == self.size:
            self._redis.hset(self._key, f"{self._batch}:loaded", count)

    def embedded(self, count: int) -> None:
        """`count` items of the batch are embedded."""
        self._redis.hset(self._key, f"{self._batch}:embedded", count)
