"""Fill in the keyword (BM25) vectors of a collection that was given its keyword index late.

The collection already writes the vector for every point stored since (see
mmsearch.infra.vectors.keyword_store): this walks the points that lack one, a page at a time,
and marks the index ready once none does. Pages are counted by their first point's id, so a
task delivered again (its worker died) counts only the pages still to do.
"""

from __future__ import annotations

import logging

from mmsearch.infra.errors import CollectionNotFound
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.vectors import VectorStore

log = logging.getLogger(__name__)

PAGE = 256
MAX_PASSES = 5  # each pass catches points an older process wrote without the vector meanwhile


def fill_keywords(jobs: JobStore, vectors: VectorStore, job_id: str, collection: str) -> None:
    """Fill the keyword vectors of `collection` under job `job_id`, then mark them ready."""
    jobs.mark_started(job_id)
    try:
        for _ in range(MAX_PASSES):
            if not _one_pass(jobs, vectors, job_id, collection):
                return  # cancelled
            if vectors.finish_keyword(collection):
                done = jobs.get(job_id, errors_limit=0).succeeded
                jobs.set_total(job_id, done, listing_done=True)
                log.info("job %s: keyword index of %s filled (%d points)", job_id, collection, done)
                return
        jobs.fail(job_id, "keyword_fill_incomplete: points kept arriving without the vector")
    except CollectionNotFound as exc:
        jobs.fail(job_id, f"collection_not_found: {exc.message}")


def _one_pass(jobs: JobStore, vectors: VectorStore, job_id: str, collection: str) -> bool:
    """One walk over the points that lack the vector; False if the job was cancelled."""
    after: str | None = None
    while True:
        if jobs.is_cancelled(job_id):
            return False
        first = after
        filled, after = vectors.fill_keyword(collection, after, PAGE)
        if filled:
            jobs.complete_batch(job_id, f"keyword:{first}", succeeded=filled, failed=[])
        if after is None:
            return True
