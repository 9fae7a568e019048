"""Fill in the keyword (BM25) vectors of a collection that was given its keyword index late,
or repair one (points a process of an earlier release wrote without the vector).

The collection already writes the vector for every point stored since (see
mmsearch.infra.vectors.keyword_store): this walks the points that lack one, a page at a time,
and marks the index ready once none does. Each page is counted under its first point's id (a
point is filled once), so a task delivered again (its worker died) counts only what it fills.
The job is bound to the collection's incarnation: it never fills another collection later
made under the same name.
"""

from __future__ import annotations

import logging

from mmsearch.infra.errors import AppError
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.vectors import VectorStore

log = logging.getLogger(__name__)

PAGE = 256
MAX_PASSES = 5  # each pass catches points an older process wrote without the vector meanwhile


def fill_keywords(jobs: JobStore, vectors: VectorStore, job_id: str, collection: str) -> None:
    """Fill the keyword vectors of `collection` under job `job_id`, then mark them ready."""
    jobs.mark_started(job_id)
    try:
        bound = jobs.incarnation(job_id)
        if bound is not None and vectors.spec(collection).incarnation != bound:
            jobs.fail(job_id, "collection_deleted: the collection of this job was deleted")
            return
        for _ in range(MAX_PASSES):
            if not _one_pass(jobs, vectors, job_id, collection):
                return  # cancelled
            if vectors.finish_keyword(collection):
                done = jobs.get(job_id, errors_limit=0).succeeded
                jobs.set_total(job_id, done, listing_done=True)
                log.info("job %s: keyword index of %s filled (%d points)", job_id, collection, done)
                return
        jobs.fail(job_id, "keyword_fill_incomplete: points kept arriving without the vector")
    except AppError as exc:  # the collection deleted, its store unreachable...
        log.warning("job %s: filling the keyword index of %s failed: %s", job_id, collection, exc)
        jobs.fail(job_id, f"{exc.code}: {exc.message}")


def _one_pass(jobs: JobStore, vectors: VectorStore, job_id: str, collection: str) -> bool:
    """One walk over the points that lack the vector; False if the job was cancelled."""
    after: str | None = None
    while True:
        if jobs.is_cancelled(job_id):
            return False
        filled, after = vectors.fill_keyword(collection, after, PAGE)
        if filled:
            jobs.complete_batch(job_id, f"keyword:{filled[0]}", succeeded=len(filled), failed=[])
        if after is None:
            return True
