"""The newest jobs, for listing (`GET /v1/jobs`): job ids kept by creation time, capped."""

from __future__ import annotations

from mmsearch.infra.errors import JobNotFound
from mmsearch.infra.jobs.store import RECENT, JobState, JobStore


def recent_jobs(store: JobStore, limit: int, tenant: str | None = None) -> list[JobState]:
    """The newest jobs first (of `tenant` only, when given); expired ones are skipped."""
    found = []
    for raw in store.redis.zrevrange(RECENT, 0, -1):
        job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            state = store.get(job_id, errors_limit=0)
        except JobNotFound:
            continue
        if tenant is None or state.tenant == tenant:
            found.append(state)
            if len(found) >= limit:
                break
    return found
