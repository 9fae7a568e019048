"""Plain ingest functions: fetch → decode → preprocess → embed → upsert → count, per batch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from mmsearch.encoders import Encoder, EncoderLoader, ModelUnavailable
from mmsearch.encoders.zero_shot import top_labels
from mmsearch.infra.catalog.payload import VIDEO_FIELD
from mmsearch.infra.catalog.versions import is_same_collection
from mmsearch.infra.errors import CollectionNotFound, ItemErrorCode
from mmsearch.infra.jobs.progress import BatchProgress
from mmsearch.infra.jobs.store import JobStatus, JobStore
from mmsearch.infra.vectors import (
    IMAGE_VECTOR,
    TEXT_VECTOR,
    CollectionSpec,
    VectorPoint,
    VectorStore,
)
from mmsearch.workers.enrich import NO_OPTIONS, IngestOptions, skip_duplicates
from mmsearch.workers.frames import drop_stale_frames, earlier_takes, videos_replaced
from mmsearch.workers.items import BatchOutcome, IngestItem, item_failure
from mmsearch.workers.media import MediaLoader, is_whole, load_and_embed
from mmsearch.workers.metrics import EMBED_SECONDS, count_batch

log = logging.getLogger(__name__)


class UpsertFailed(Exception):
    """The vector store failed on a batch (refused or unreachable); the task retries it."""


def failed_batch(raw_items: Sequence[dict[str, Any]], code: str, message: str) -> BatchOutcome:
    """An outcome that records every item of a batch as failed with one code."""
    items = [IngestItem.from_dict(raw) for raw in raw_items]
    return BatchOutcome(failures=[item_failure(item, code, message) for item in items])


def embed_and_upsert(
    vectors: VectorStore,
    media: MediaLoader,
    encoder: Encoder,
    spec: CollectionSpec,
    items: Sequence[IngestItem],
    options: IngestOptions = NO_OPTIONS,
    progress: BatchProgress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> BatchOutcome:
    """Index a batch; bad items become failures, a store failure raises UpsertFailed, and a
    collection deleted (or made again) meanwhile raises CollectionNotFound. A batch whose job
    `cancelled` says was cancelled while it was embedded writes nothing."""
    step, on_loaded, on_embedded = None, None, None
    if progress is not None:
        step, on_loaded, on_embedded = progress.step, progress.loaded, progress.embedded
    with EMBED_SECONDS.time():
        batch = load_and_embed(media, encoder, items, step, on_loaded, on_embedded, options.video)
    kept, failures = batch.kept, batch.failures
    if not kept:
        return BatchOutcome(succeeded=0, failures=failures)
    embedded = np.concatenate(batch.vectors)
    try:
        captioned = [i for i, item in enumerate(kept) if item.text]
        texts = encoder.embed_texts([kept[i].text or "" for i in captioned])
        auto = options.auto_labels
        labels = top_labels(encoder, embedded, auto) if auto else None
    except Exception as exc:
        log.exception("embedding failed for a batch of %d in %s", len(kept), spec.name)
        whole = [replace(i, video=None) for i in kept if is_whole(i)]
        failures += [item_failure(i, ItemErrorCode.EMBED_FAILED, str(exc)) for i in whole]
        return BatchOutcome(succeeded=0, failures=failures)
    ids = [item.point_id(spec) for item in kept]
    skipped: dict[int, str] = {}
    if options.dedup_threshold is not None:  # images only: a video's frames are its own
        rows = [row for row, item in enumerate(kept) if item.video is None]
        found = skip_duplicates(
            vectors,
            spec.name,
            [ids[row] for row in rows],
            [kept[row].external_id for row in rows],
            embedded[rows],
            options.dedup_threshold,
            options.tenant,
        )
        skipped = {rows[row]: other for row, other in found.items()}
    text_of = dict(zip(captioned, texts, strict=True))
    superseded = earlier_takes(kept)
    points = []
    for row, item in enumerate(kept):
        if row in skipped or row in superseded:
            continue
        named = {IMAGE_VECTOR: embedded[row]}
        if row in text_of:
            named[TEXT_VECTOR] = text_of[row]
        payload = item.payload()
        if labels is not None and auto is not None:
            payload = payload.with_metadata({**item.metadata, auto.field: labels[row]})
        points.append(VectorPoint(id=ids[row], vectors=named, payload=payload.to_payload()))
    written = [kept[row] for row in range(len(kept)) if row not in skipped]
    if cancelled is not None and cancelled():
        return BatchOutcome(cancelled=True)
    try:
        if points:
            # Checked again just before writing: the collection may have been deleted and made
            # again under its name while the batch was fetched and embedded.
            if vectors.spec(spec.name).incarnation != spec.incarnation:
                raise CollectionNotFound(f"collection {spec.name!r} was deleted meanwhile")
            replaced = videos_replaced(vectors, spec, written)
            vectors.upsert(spec.name, points)
            stale = [item for item in written if item.video is not None or item in replaced]
            drop_stale_frames(vectors, spec.name, stale, [point.id for point in points])
    except CollectionNotFound:
        raise
    except Exception as exc:
        raise UpsertFailed(str(exc)) from exc
    duplicates = [
        item_failure(kept[row], ItemErrorCode.SKIPPED_DUPLICATE, f"near-duplicate of {other!r}")
        for row, other in sorted(skipped.items())
    ]
    return BatchOutcome(
        succeeded=sum(1 for item in written if is_whole(item)),
        failures=failures,
        skipped=duplicates,
        videos=sum(1 for item in written if item.video is not None and is_whole(item)),
        frames=sum(1 for point in points if point.payload.get(VIDEO_FIELD) is not None),
    )


def run_batch(
    jobs: JobStore,
    vectors: VectorStore,
    media: MediaLoader,
    encoders: EncoderLoader,
    job_id: str,
    collection: str,
    batch: str,
    raw_items: list[dict[str, Any]],
    options: IngestOptions = NO_OPTIONS,
) -> BatchOutcome:
    """Process one batch of a job and count it exactly once."""
    if jobs.is_cancelled(job_id):
        log.info("job %s batch %s skipped: job cancelled", job_id, batch)
        return BatchOutcome(cancelled=True)
    jobs.mark_started(job_id)
    items = [IngestItem.from_dict(raw) for raw in raw_items]
    for item in items:
        item.tenant = options.tenant or item.tenant  # a tenant job stamps every item
    progress = BatchProgress(jobs, job_id, batch, len(items))
    progress.start()
    try:
        spec = bound_spec(jobs, vectors, job_id, collection)
        encoder = encoders(spec.model)
        stop = partial(jobs.is_cancelled, job_id)
        outcome = embed_and_upsert(vectors, media, encoder, spec, items, options, progress, stop)
        if not outcome.cancelled:
            mirror_to_migration(jobs, vectors, media, encoders, spec, items, options)
    except CollectionNotFound as exc:
        outcome = failed_batch(raw_items, ItemErrorCode.COLLECTION_DELETED, exc.message)
    except ModelUnavailable as exc:  # the registry logged why, once
        message = f"the collection's model cannot be loaded: {exc}"
        outcome = failed_batch(raw_items, ItemErrorCode.EMBED_FAILED, message)
    record_outcome(jobs, vectors, job_id, batch, outcome)
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


def bound_spec(
    jobs: JobStore, vectors: VectorStore, job_id: str, collection: str
) -> CollectionSpec:
    """The spec of the collection a job writes to; CollectionNotFound once the collection the job
    was created for is gone, even if another now has its name. A store that cannot answer raises
    UpsertFailed (retried)."""
    bound = jobs.incarnation(job_id)
    try:
        spec = vectors.spec(collection)
        same = is_same_collection(bound, spec, vectors.list_specs)
    except CollectionNotFound:
        raise CollectionNotFound(f"collection {collection!r} no longer exists") from None
    except Exception as exc:
        raise UpsertFailed(f"vector store unreachable: {exc}") from exc
    if not same:
        raise CollectionNotFound(
            f"collection {collection!r} was deleted; the one of that name now is another"
        )
    return spec


def mirror_to_migration(
    jobs: JobStore,
    vectors: VectorStore,
    media: MediaLoader,
    encoders: EncoderLoader,
    spec: CollectionSpec,
    items: Sequence[IngestItem],
    options: IngestOptions,
) -> None:
    """Also index the batch into the version a re-embed is building, so it misses nothing.

    Read after the primary write: a finishing re-embed moves the alias before it clears its
    mark, so one of the two always shows the new version.
    """
    public = spec.public_name
    if not public:
        return
    targets = {jobs.migration_target(public)}
    targets.add(vectors.get_collection(public).spec.name)
    for target in sorted(t for t in targets if t and t != spec.name):
        try:
            target_spec = vectors.spec(target)
            embed_and_upsert(
                vectors, media, encoders(target_spec.model), target_spec, items, options
            )
        except ModelUnavailable as exc:  # a setup problem, not a bug: no traceback
            log.warning("could not mirror a batch of %s into %s: %s", spec.name, target, exc)
        except Exception:  # the primary write stands; log and keep the batch's outcome
            log.exception("could not mirror a batch of %s into %s", spec.name, target)


def record_outcome(
    jobs: JobStore, vectors: VectorStore, job_id: str, batch: str, outcome: BatchOutcome
) -> None:
    """Add a batch's counts to its job (idempotent per batch key)."""
    counted = jobs.complete_batch(
        job_id,
        batch,
        succeeded=outcome.succeeded,
        failed=outcome.failures,
        skipped=outcome.skipped,
        videos=outcome.videos,
        frames=outcome.frames,
    )
    if counted:
        count_batch(outcome.succeeded, outcome.failures, outcome.skipped)
    else:
        log.info("job %s batch %s was already counted (redelivery)", job_id, batch)
    finish_if_done(jobs, vectors, job_id)


def finish_if_done(jobs: JobStore, vectors: VectorStore, job_id: str) -> None:
    """Run a completed job's final step: a re-embed switches its alias to the new version (the
    job reports running until then).

    Called after every counter write; whichever write completes the job sees it complete.
    Switching is idempotent, so two callers seeing it at once do no harm.
    """
    state = jobs.get(job_id, errors_limit=0)
    if not state.switch_due:
        return
    if state.counted not in (JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_ERRORS):
        jobs.end_migration(state)  # every item failed: the old version keeps serving
        return
    try:
        bound_spec(jobs, vectors, job_id, state.collection)
    except CollectionNotFound:  # the collection was deleted while it was being re-embedded
        jobs.end_migration(state)
        log.warning("job %s: %s is gone; nothing to switch to", job_id, state.collection)
        return
    assert state.switch_alias is not None  # switch_due implies it
    vectors.set_alias(state.switch_alias, state.collection)
    jobs.end_migration(state)
    log.info("job %s: %s now serves %s", job_id, state.switch_alias, state.collection)
