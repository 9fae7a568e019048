"""A source's sync: compare its objects with the collection's items a page at a time, queue
what is new or changed as ingest batches, and remove the items of objects that are gone.

Every item of a source that a sync sees is marked with the sync's job id (`sync`), as are the
items its batches write; once the whole listing is written, the source's items with another mark
are those of objects gone, and are removed. Nothing else is held across pages, so a source of
any size is synced in the memory of one page.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.catalog.payload import (
    ItemPayload,
)
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.catalog.versions import metadata_fields
from mmsearch.infra.errors import CollectionNotFound, ItemError, ItemErrorCode
from mmsearch.infra.jobs.store import FINAL_STATUSES, ItemFailure, JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.sync.captions import Captions, load_captions
from mmsearch.infra.sync.diff import Change, compare
from mmsearch.infra.sync.listing import Listed, content_hash, list_source, look_up
from mmsearch.infra.sync.points import (
    ITEMS_ONLY,
    keys_filter,
    mark_seen,
    remove_keys,
    source_filter,
    unseen_filter,
)
from mmsearch.infra.sync.progress import Checkpoint, Phase, SyncKind, SyncProgress
from mmsearch.infra.sync.sources import Source, SourceStore
from mmsearch.infra.vectors import CollectionSpec, VectorStore
from mmsearch.workers.dispatch import TaskSender, batch_tasks, checked_items, chunked
from mmsearch.workers.pipeline import bound_spec, finish_if_done

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncContext:
    """What a sync works with: the stores, and how large its pages and batches are."""

    jobs: JobStore
    sender: TaskSender
    vectors: VectorStore
    objects: ObjectStore
    sources: SourceStore
    page_size: int
    batch_size: int
    limits: MetadataLimits
    max_bytes: int  # the largest file hashed, and the largest caption manifest read

    @property
    def progress(self) -> SyncProgress:
        return SyncProgress(self.jobs, self.sender.outbox)


@dataclass(frozen=True)
class _Run:
    """One sync in progress."""

    job_id: str
    runner: str
    collection: str
    source: Source
    spec: CollectionSpec
    at: Checkpoint
    captions: Captions | None


def run_sync(ctx: SyncContext, job_id: str) -> None:
    """Run (or resume) sync job `job_id` up to its last page; its batches do the rest."""
    state = ctx.jobs.get(job_id, errors_limit=0)
    if state.status in FINAL_STATUSES:
        return  # a copy of a task whose sync has ended
    at = ctx.progress.load(job_id)
    source = ctx.sources.find(at.source_id)
    if source is None:
        ctx.jobs.fail(job_id, f"{ItemErrorCode.SOURCE_REMOVED}: source {at.source_id} was removed")
        return
    try:
        spec = bound_spec(ctx.jobs, ctx.vectors, job_id, state.collection)
    except CollectionNotFound as exc:
        ctx.jobs.fail(job_id, f"{ItemErrorCode.COLLECTION_DELETED}: {exc.message}")
        return
    runner = uuid.uuid4().hex
    if not ctx.progress.hold(job_id, runner):
        log.info("sync %s is being run by another worker", job_id)
        return
    try:
        _run(ctx, job_id, runner, state.collection, source, spec)
    finally:
        ctx.progress.let_go(job_id, runner)


def _run(
    ctx: SyncContext,
    job_id: str,
    runner: str,
    collection: str,
    source: Source,
    spec: CollectionSpec,
) -> None:
    ctx.jobs.mark_started(job_id)
    at = ctx.progress.load(job_id)  # where the last runner left it
    try:
        captions = None
        if source.captions:
            captions = load_captions(ctx.objects, source, ctx.max_bytes)
        run = _Run(job_id, runner, collection, source, spec, at, captions)
        if at.phase == Phase.LISTING and not _write_pages(ctx, run):
            return  # cancelled
        if at.kind == SyncKind.FULL:
            _remove_unseen(ctx, run)
    except ItemError as exc:
        log.warning("sync %s of %s failed: %s", job_id, source.uri, exc.message)
        ctx.jobs.fail(job_id, f"{exc.code}: {exc.message}")
        return
    ctx.progress.finish(job_id)
    ctx.jobs.end_listing(job_id)
    finish_if_done(ctx.jobs, ctx.vectors, job_id)


def _write_pages(ctx: SyncContext, run: _Run) -> bool:
    """Compare and write every page left; False when the job was cancelled meanwhile (or
    another runner took the sync over after this one stalled)."""
    for number, (found, gone) in enumerate(_pages(ctx, run), start=run.at.page):
        if ctx.jobs.is_cancelled(run.job_id) or not ctx.progress.renew(run.job_id, run.runner):
            return False
        _write_page(ctx, run, number, found, gone)
    return True


def _pages(ctx: SyncContext, run: _Run) -> Iterator[tuple[list[Listed], list[str]]]:
    """The pages left: the objects found, and (event syncs) the keys whose objects are gone."""
    if run.at.kind == SyncKind.FULL:
        for page in chunked(list_source(ctx.objects, run.source, run.at.after), ctx.page_size):
            yield page, []
        return
    number = run.at.page
    while keys := ctx.progress.keys_page(run.job_id, number, ctx.page_size):
        now = {key: look_up(ctx.objects, run.source, key) for key in keys}
        yield [entry for entry in now.values() if entry], [k for k, e in now.items() if not e]
        number += 1


def _write_page(
    ctx: SyncContext, run: _Run, number: int, found: list[Listed], gone: list[str]
) -> None:
    source, spec = run.source, run.spec
    ids = [item_point_id(spec, source.item_id(e.key), source.tenant) for e in found]
    stored = {
        point.id: ItemPayload.from_payload(point.payload, point.id)
        for point in (ctx.vectors.retrieve(spec.name, ids) if ids else [])
    }
    counts: Counter[str] = Counter()
    seen: list[str] = []
    restamped: dict[str, dict[str, Any]] = {}
    ingest: list[dict[str, Any]] = []
    refused: list[ItemFailure] = []
    others = {i.source.id for i in stored.values() if i.source and i.source.id != source.id}
    live = {other for other in others if ctx.sources.find(other) is not None}
    for entry, point_id in zip(found, ids, strict=True):
        item = stored.get(point_id)
        caption = run.captions.get(entry.key) if run.captions is not None else None
        verdict = compare(
            source.id,
            entry,
            item,
            caption,
            run.captions is not None,
            lambda e: content_hash(e, ctx.max_bytes),
            run.at.listed_ns,
            live.__contains__,
        )
        item_id = source.item_id(entry.key)
        if verdict.change == Change.CONFLICT:
            message = f"item {item_id!r} is already synced from source {verdict.owner}"
            refused.append(ItemFailure(entry.uri, item_id, ItemErrorCode.ID_CONFLICT, message))
            continue
        if item is not None:
            seen.append(point_id)
            if item.source is not None and item.source.id == source.id:
                counts["matched"] += 1  # of the source's items: those not gone
        if verdict.change == Change.RESTAMPED:
            restamped[point_id] = verdict.stamp.to_payload()
        if verdict.change in (Change.ADDED, Change.UPDATED):
            counts[str(verdict.change)] += 1
            if not run.at.dry_run:
                stamp = verdict.stamp
                if stamp.hash is None and entry.path is not None:
                    stamp = replace(stamp, hash=content_hash(entry, ctx.max_bytes))
                kept = item.metadata if item is not None else {}
                ingest.append(
                    {
                        "uri": entry.uri,
                        "id": item_id,
                        "metadata": kept,  # edits made to the item stay (the source's go under)
                        "text": caption,
                        "source": stamp.to_payload(),
                        "sync": run.job_id,
                    }
                )
        else:
            counts[str(Change.UNCHANGED)] += 1
    if run.at.dry_run:
        if gone:
            flt = keys_filter(source, gone, items_only=True)
            counts["removed"] += ctx.vectors.count(spec.name, flt)
        ctx.progress.commit_page(run.job_id, _last_key(found, gone), counts, 0, {})
        return
    seen_items = {point_id: stored[point_id] for point_id in seen}
    mark_seen(ctx.vectors, spec.name, source, run.job_id, seen_items, restamped)
    counts["removed"] += remove_keys(ctx.vectors, spec.name, source, gone)
    raw, bad = checked_items(ingest, source.metadata, ctx.limits, metadata_fields(spec))
    refused += bad
    if refused:
        ctx.jobs.complete_batch(run.job_id, f"s{number}-refused", succeeded=0, failed=refused)
    options = source.job_options() or None
    tasks = batch_tasks(
        run.job_id, run.collection, raw, ctx.batch_size, tag=f"s{number}-", options=options
    )
    ctx.progress.commit_page(
        run.job_id, _last_key(found, gone), counts, len(raw) + len(refused), tasks
    )
    ctx.sender.send(tasks)


def _last_key(found: list[Listed], gone: list[str]) -> str:
    return max([entry.key for entry in found[-1:]] + gone[-1:])


def _remove_unseen(ctx: SyncContext, run: _Run) -> None:
    """Once every page is written: remove the source's items this sync did not see (a dry run
    counts them: the source's items less those it saw)."""
    at, name = ctx.progress.load(run.job_id), run.spec.name
    if at.dry_run:
        held = ctx.vectors.count(name, source_filter(run.source, {"must_not": ITEMS_ONLY}))
        ctx.progress.start_removing(run.job_id, max(0, held - at.matched))
        return
    if at.phase == Phase.LISTING:  # counted once: a resumed removal keeps the first count
        items = unseen_filter(run.source, run.job_id, items_only=True)
        ctx.progress.start_removing(run.job_id, ctx.vectors.count(name, items))
    ctx.vectors.delete_by_filter(name, unseen_filter(run.source, run.job_id))
