"""Plain ingest functions: fetch → decode → preprocess → embed → upsert → count, per batch."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mmsearch.encoders import Encoder
from mmsearch.encoders.zero_shot import top_labels
from mmsearch.infra.errors import CollectionNotFound, ItemError, ItemErrorCode
from mmsearch.infra.jobs.store import ItemFailure, JobStatus
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.vectors import IMAGE_VECTOR, TEXT_VECTOR, CollectionSpec, VectorPoint
from mmsearch.workers.enrich import NO_OPTIONS, IngestOptions, skip_duplicates
from mmsearch.workers.items import (
    BatchOutcome,
    IngestItem,
)
from mmsearch.workers.metrics import EMBED_SECONDS, count_batch

log = logging.getLogger(__name__)

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


class UpsertFailed(Exception):
    """The vector store failed on a batch (refused or unreachable); the task retries it."""


def _pool(runtime: Runtime) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=runtime.settings.fetch_concurrency, thread_name_prefix="fetch"
            )
        return _POOL


def load_item(runtime: Runtime, encoder: Encoder, item: IngestItem) -> Any:
    """Fetch, decode and preprocess one item; raise ItemError for this item alone."""
    ref = runtime.objects.parse(item.uri)
    data = runtime.objects.fetch(ref)
    s = runtime.settings
    image = decode_image(data, max_pixels=s.max_image_pixels, min_side=s.decode_min_side)
    return encoder.preprocess(image)


def _failure(item: IngestItem, code: str, message: str) -> ItemFailure:
    return ItemFailure(
        uri=item.uri, id=item.id, code=code, message=message[:500], item=item.to_dict()
    )


def failed_batch(raw_items: Sequence[dict[str, Any]], code: str, message: str) -> BatchOutcome:
    """An outcome that records every item of a batch as failed with one code."""
    items = [IngestItem.from_dict(raw) for raw in raw_items]
    return BatchOutcome(failures=[_failure(item, code, message) for item in items])


def _load_all(
    runtime: Runtime, encoder: Encoder, items: Sequence[IngestItem]
) -> tuple[list[tuple[IngestItem, Any]], list[ItemFailure]]:
    def guarded(item: IngestItem) -> tuple[IngestItem, Any, ItemFailure | None]:
        try:
            return item, load_item(runtime, encoder, item), None
        except ItemError as exc:
            return item, None, _failure(item, exc.code, exc.message)
        except Exception as exc:  # one bad item must not sink the batch
            log.exception("unexpected error loading %s", item.uri)
            return item, None, _failure(item, ItemErrorCode.FETCH_FAILED, type(exc).__name__)

    loaded, failures = [], []
    for item, tensor, failure in _pool(runtime).map(guarded, items):
        if failure is None:
            loaded.append((item, tensor))
        else:
            failures.append(failure)
    return loaded, failures


def embed_and_upsert(
    runtime: Runtime,
    spec: CollectionSpec,
    items: Sequence[IngestItem],
    options: IngestOptions = NO_OPTIONS,
) -> BatchOutcome:
    """Index a batch; bad items become failures, a store failure raises UpsertFailed."""
    encoder = runtime.encoder(spec.model)
    loaded, failures = _load_all(runtime, encoder, items)
    if not loaded:
        return BatchOutcome(succeeded=0, failures=failures)
    kept = [item for item, _ in loaded]
    try:
        with EMBED_SECONDS.time():
            vectors = encoder.embed_preprocessed([tensor for _, tensor in loaded])
            captioned = [i for i, item in enumerate(kept) if item.text]
            texts = encoder.embed_texts([kept[i].text or "" for i in captioned])
        labels = top_labels(encoder, vectors, options.auto_labels) if options.auto_labels else None
    except Exception as exc:
        log.exception("embedding failed for a batch of %d in %s", len(loaded), spec.name)
        failures += [_failure(i, ItemErrorCode.EMBED_FAILED, str(exc)) for i in kept]
        return BatchOutcome(succeeded=0, failures=failures)
    ids = [item.point_id(spec) for item in kept]
    skipped: dict[int, str] = {}
    if options.dedup_threshold is not None:
        external = [item.external_id for item in kept]
        skipped = skip_duplicates(
            runtime, spec.name, ids, external, vectors, options.dedup_threshold, options.tenant
        )
    text_of = dict(zip(captioned, texts, strict=True))
    points = []
    for row, item in enumerate(kept):
        if row in skipped:
            continue
        named = {IMAGE_VECTOR: vectors[row]}
        if row in text_of:
            named[TEXT_VECTOR] = text_of[row]
        payload = item.payload()
        if labels is not None and options.auto_labels is not None:
            payload = payload.with_metadata(
                {**item.metadata, options.auto_labels.field: labels[row]}
            )
        points.append(VectorPoint(id=ids[row], vectors=named, payload=payload.to_payload()))
    try:
        if points:
            runtime.vectors.upsert(spec.name, points)
    except CollectionNotFound:
        raise
    except Exception as exc:
        raise UpsertFailed(str(exc)) from exc
    duplicates = [
        _failure(kept[row], ItemErrorCode.SKIPPED_DUPLICATE, f"near-duplicate of {other!r}")
        for row, other in sorted(skipped.items())
    ]
    return BatchOutcome(succeeded=len(points), failures=failures, skipped=duplicates)


def run_batch(
    runtime: Runtime,
    job_id: str,
    collection: str,
    batch: str,
    raw_items: list[dict[str, Any]],
    options: IngestOptions = NO_OPTIONS,
) -> BatchOutcome:
    """Process one batch of a job and count it exactly once."""
    jobs = runtime.jobs
    if jobs.is_cancelled(job_id):
        log.info("job %s batch %s skipped: job cancelled", job_id, batch)
        return BatchOutcome(cancelled=True)
    jobs.mark_started(job_id)
    items = [IngestItem.from_dict(raw) for raw in raw_items]
    for item in items:
        item.tenant = options.tenant or item.tenant  # a tenant job stamps every item
    try:
        spec = _spec(runtime, collection)
        outcome = embed_and_upsert(runtime, spec, items, options)
        mirror_to_migration(runtime, spec, items, options)
    except CollectionNotFound:
        message = f"collection {collection!r} no longer exists"
        outcome = failed_batch(raw_items, ItemErrorCode.UPSERT_FAILED, message)
    record_outcome(runtime, job_id, batch, outcome)
    log.info(
        "job %s collection %s batch %s: %d indexed, %d failed, %d skipped",
        job_id,
        collection,
        batch,
        outcome.succeeded,
        len(outcome.failures),
        len(outcome.skipped),
    )
    return outcome


def _spec(runtime: Runtime, collection: str) -> CollectionSpec:
    """The collection's spec; a store that cannot answer raises UpsertFailed (retried)."""
    try:
        return runtime.vectors.spec(collection)
    except CollectionNotFound:
        raise
    except Exception as exc:
        raise UpsertFailed(f"vector store unreachable: {exc}") from exc


def mirror_to_migration(
    runtime: Runtime, spec: CollectionSpec, items: Sequence[IngestItem], options: IngestOptions
) -> None:
    """Also index the batch into the version a re-embed is building, so it misses nothing.

    Read after the primary write: a finishing re-embed moves the alias before it clears its
    mark, so one of the two always shows the new version.
    """
    public = spec.public_name
    if not public:
        return
    targets = {runtime.jobs.migration_target(public)}
    targets.add(runtime.vectors.get_collection(public).spec.name)
    for target in sorted(t for t in targets if t and t != spec.name):
        try:
            embed_and_upsert(runtime, runtime.vectors.spec(target), items, options)
        except Exception:  # the primary write stands; log and keep the batch's outcome
            log.exception("could not mirror a batch of %s into %s", spec.name, target)


def record_outcome(runtime: Runtime, job_id: str, batch: str, outcome: BatchOutcome) -> None:
    """Add a batch's counts to its job (idempotent per batch key)."""
    counted = runtime.jobs.complete_batch(
        job_id,
        batch,
        succeeded=outcome.succeeded,
        failed=outcome.failures,
        skipped=outcome.skipped,
    )
    if counted:
        count_batch(outcome.succeeded, outcome.failures, outcome.skipped)
    else:
        log.info("job %s batch %s was already counted (redelivery)", job_id, batch)
    finish_if_done(runtime, job_id)


def finish_if_done(runtime: Runtime, job_id: str) -> None:
    """Run a completed job's final step: a re-embed switches its alias to the new version.

    Called after every counter write; whichever write completes the job sees it complete.
    Switching is idempotent, so two callers seeing it at once do no harm.
    """
    state = runtime.jobs.get(job_id, errors_limit=0)
    if state.switch_alias and state.status in (
        JobStatus.SUCCEEDED,
        JobStatus.COMPLETED_WITH_ERRORS,
    ):
        runtime.vectors.set_alias(state.switch_alias, state.collection)
        runtime.jobs.end_migration(state)
        log.info("job %s: %s now serves %s", job_id, state.switch_alias, state.collection)
