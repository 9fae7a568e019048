"""A job's items as the request gave them, kept in Redis until a worker fans them out."""

from __future__ import annotations

import json
import zlib
from typing import Any

from mmsearch.infra.jobs.store import JobStore


def items_key(job_id: str) -> str:
    """The Redis key of a job's stored items (JobNotFound for a string that is not a job id)."""
    return JobStore.keys(job_id)[0] + ":items"


def store_items(jobs: JobStore, job_id: str, items: list[dict[str, Any]], ttl_s: int) -> None:
    """Keep a job's items as one compressed blob, expiring with the job."""
    blob = zlib.compress(json.dumps(items, separators=(",", ":")).encode(), 1)
    jobs.redis.set(items_key(job_id), blob, ex=ttl_s)


def load_items(jobs: JobStore, job_id: str) -> list[dict[str, Any]] | None:
    """A job's stored items; None once they were fanned out (or expired)."""
    blob = jobs.redis.get(items_key(job_id))
    if blob is None:
        return None
    items: list[dict[str, Any]] = json.loads(zlib.decompress(blob))  # type: ignore[arg-type]
    return items


def drop_items(jobs: JobStore, job_id: str) -> None:
    """Forget a job's stored items once every batch of them is queued."""
    jobs.redis.delete(items_key(job_id))
