"""A source's sync: compare its objects with the collection's items a page at a time, queue
what is new or changed as ingest batches, and remove the items of objects that are gone.

Every item of a source that a sync sees is marked with the sync's job id (`sync`), as are the
items its batches write; once the whole listing is written, the source's items with another mark
are those whose objects may be gone: each one's object is looked up, and the item goes only when
the object is. Nothing else is held across pages, so a source of any size is synced in the
memory of one page. One runner at a time holds a sync (a lease renewed from a thread), and a
page is written only by the runner that holds it (see mmsearch.infra.sync.progress).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.catalog.versions import metadata_fields
from mmsearch.infra.errors import CollectionNotFound, ItemError, ItemErrorCode
from mmsearch.infra.jobs.store import FINAL_STATUSES, ItemFailure, JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.sync.captions import MAX_MANIFEST_BYTES, Captions, load_captions
from mmsearch.infra.sync.listing import Listed, content_hash, list_source, look_up, probe
from mmsearch.infra.sync.points import (
    ITEMS_ONLY,
    keys_filter,
    mark_seen,
    remove_keys,
    source_filter,
    unseen_filter,
)
from mmsearch.infra.sync.progress import Checkpoint, Page, Phase, SyncKind, SyncProgress
from mmsearch.infra.sync.sources import Source, SourceStore
from mmsearch.infra.vectors import CollectionSpec, VectorStore
from mmsearch.workers.dispatch import TaskSender, batch_tasks, checked_items, chunked
from mmsearch.workers.pipeline import bound_spec, finish_if_done
from mmsearch.workers.sync_page import PageInput, compare_page

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
    max_bytes: int  # the largest file hashed

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


def run_sync(ctx: SyncContext, job_id: str) -> bool:
    """Run (or resume) sync job `job_id` up to its last page; its batches do the rest. False
    when another runner holds the sync (its task is then tried again later)."""
    state = ctx.jobs.get(job_id, errors_limit=0)
    if state.status in FINAL_STATUSES:
        return True  # a copy of a task whose sync has ended
    at = ctx.progress.load(job_id)
    source = ctx.sources.find(at.source_id)
    if source is None:
        ctx.jobs.fail(job_id, f"{ItemErrorCode.SOURCE_REMOVED}: source {at.source_id} was removed")
        return True
    try:
        spec = bound_spec(ctx.jobs, ctx.vectors, job_id, state.collection)
    except CollectionNotFound as exc:
        ctx.jobs.fail(job_id, f"{ItemErrorCode.COLLECTION_DELETED}: {exc.message}")
        return True
    runner = uuid.uuid4().hex
    with ctx.progress.held(job_id, runner) as mine:
        if not mine:
            log.info("sync %s is being run by another worker", job_id)
            return False
        _run(ctx, _Run(job_id, runner, state.collection, source, spec, at, None))
    return True


def _run(ctx: SyncContext, run: _Run) -> None:
    job_id = run.job_id
    ctx.jobs.mark_started(job_id)
    try:
        ctx.progress.settle_refused(job_id)  # a page written before its runner stopped
        at = ctx.progress.load(job_id)  # where the last runner left it
        captions = None
        if run.source.captions:
            captions = load_captions(ctx.objects, run.source, MAX_MANIFEST_BYTES)
        run = replace(run, at=at, captions=captions)
        if at.phase == Phase.LISTING and not _write_pages(ctx, run):
            return  # cancelled, its source removed, or taken over
        if at.kind == SyncKind.FULL and at.phase != Phase.DONE and not _stopped(ctx, run):
            _remove_unseen(ctx, run)
    except ItemError as exc:
        log.warning("sync %s of %s failed: %s", job_id, run.source.uri, exc.message)
        ctx.jobs.fail(job_id, f"{exc.code}: {exc.message}")
        return
    except CollectionNotFound as exc:
        ctx.jobs.fail(job_id, f"{ItemErrorCode.COLLECTION_DELETED}: {exc.message}")
        return
    if _stopped(ctx, run):
        return
    ctx.progress.finish(job_id)
    ctx.jobs.end_listing(job_id)
    finish_if_done(ctx.jobs, ctx.vectors, job_id)


def _stopped(ctx: SyncContext, run: _Run) -> bool:
    """Whether the sync should stop: its job was cancelled, or its source removed."""
    return ctx.jobs.is_cancelled(run.job_id) or ctx.sources.find(run.source.id) is None


def _write_pages(ctx: SyncContext, run: _Run) -> bool:
    """Compare and write every page left; False when the sync stopped meanwhile (or another
    runner took it over)."""
    for number, listed in enumerate(_pages(ctx, run), start=run.at.page):
        if _stopped(ctx, run) or not _write_page(ctx, run, number, listed):
            return False
    return True


@dataclass(frozen=True)
class _Listed:
    """A page of the source: objects found, keys whose objects are gone (event syncs), those
    that could not be looked up (failed as items), and the last key."""

    found: list[Listed]
    last: str
    gone: list[str] = field(default_factory=list)
    unknown: list[ItemFailure] = field(default_factory=list)


def _pages(ctx: SyncContext, run: _Run) -> Iterator[_Listed]:
    """The pages left."""
    if run.at.kind == SyncKind.FULL:
        for page in chunked(list_source(ctx.objects, run.source, run.at.after), ctx.page_size):
            yield _Listed(page, page[-1].key)
        return
    number = run.at.page
    while keys := ctx.progress.keys_page(run.job_id, number, ctx.page_size):
        now = {key: _look_up(ctx, run.source, key) for key in keys}
        unknown = [
            ItemFailure(run.source.uri + key, run.source.item_id(key), exc.code, exc.message)
            for key, exc in now.items()
            if isinstance(exc, ItemError)
        ]
        found = [entry for entry in now.values() if isinstance(entry, Listed)]
        yield _Listed(found, keys[-1], [k for k, e in now.items() if e is None], unknown)
        number += 1


def _look_up(ctx: SyncContext, source: Source, key: str) -> Listed | None | ItemError:
    """The object at `key` now, None when it is gone, or why that cannot be told."""
    try:
        return look_up(ctx.objects, source, key)
    except ItemError as exc:
        return exc


def _write_page(ctx: SyncContext, run: _Run, number: int, listed: _Listed) -> bool:
    """Compare one page, write what it changes and send its batches; False when another
    runner holds the sync (this one wrote nothing of the page then)."""
    if not ctx.progress.holds(run.job_id, run.runner):
        return False
    names, gone = _versions(ctx, run.collection), listed.gone
    compared = compare_page(ctx.vectors, _page_input(ctx, run, names[0]), listed.found)
    counts = compared.counts
    if run.at.dry_run:
        if gone:
            items = keys_filter(run.source, gone, items_only=True)
            counts["removed"] += ctx.vectors.count(names[0], items)
        page = Page(number, listed.last, counts)
        return ctx.progress.commit_page(run.job_id, run.runner, page)
    mark_seen(ctx.vectors, names[0], run.source, run.job_id, compared.seen, compared.restamped)
    for position, name in enumerate(names):
        removed = remove_keys(ctx.vectors, name, run.source, gone)
        counts["removed"] += removed if position == 0 else 0
    schema = metadata_fields(run.spec)
    raw, bad = checked_items(compared.ingest, run.source.metadata, ctx.limits, schema)
    refused = compared.refused + bad + listed.unknown
    options = run.source.job_options() or None
    tasks = batch_tasks(
        run.job_id, run.collection, raw, ctx.batch_size, tag=f"s{number}-", options=options
    )
    page = Page(number, listed.last, counts, len(raw) + len(refused), tasks, refused)
    if not ctx.progress.commit_page(run.job_id, run.runner, page):
        return False
    ctx.progress.settle_refused(run.job_id)
    ctx.sender.send(tasks)
    return True


def _page_input(ctx: SyncContext, run: _Run, collection: str) -> PageInput:
    return PageInput(
        run.source,
        run.spec,
        collection,
        run.job_id,
        run.at.listed_ns,
        run.captions,
        run.at.dry_run,
        lambda entry: content_hash(entry, ctx.max_bytes),
        lambda source_id: ctx.sources.find(source_id) is not None,
    )


def _versions(ctx: SyncContext, collection: str) -> list[str]:
    """The collection's serving version now, then the one a re-embed is building, if any."""
    names = [ctx.vectors.spec(collection).name]
    building = ctx.jobs.migration_target(collection)
    return names + [building] if building and building not in names else names


def _remove_unseen(ctx: SyncContext, run: _Run) -> None:
    """Once every page is written: remove the items of the source's objects that are gone.

    The candidates are the source's items this sync did not mark; each one's object is looked
    up before its item goes, so an item whose object exists (a write that raced the listing, a
    folder that could not be read) is kept and marked. Each step first checks that the source
    can still be listed (an unmounted folder or a vanished bucket fails the sync rather than
    emptying the collection) and that this runner still holds the sync. A dry run counts the
    candidates alone: the source's items less those it saw.
    """
    at, names = ctx.progress.load(run.job_id), _versions(ctx, run.collection)
    if at.dry_run:
        held = ctx.vectors.count(names[0], source_filter(run.source, {"must_not": ITEMS_ONLY}))
        ctx.progress.start_removing(run.job_id, max(0, held - at.matched))
        return
    ctx.progress.start_removing(run.job_id)
    unseen, after = unseen_filter(run.source, run.job_id, items_only=True), None
    while True:
        if _stopped(ctx, run) or not ctx.progress.holds(run.job_id, run.runner):
            return
        probe(ctx.objects, run.source)
        page, after = ctx.vectors.scroll(names[0], limit=ctx.page_size, after=after, filter=unseen)
        items = {p.id: ItemPayload.from_payload(p.payload, p.id) for p in page}
        keys = {item.source.key for item in items.values() if item.source is not None}
        now = {key: _look_up(ctx, run.source, key) for key in sorted(keys)}
        gone = [key for key, entry in now.items() if entry is None]
        for position, name in enumerate(names):
            removed = remove_keys(ctx.vectors, name, run.source, gone)
            if position == 0:
                ctx.progress.add_removed(run.job_id, removed)
        there = {i: item for i, item in items.items() if item.source and now[item.source.key]}
        mark_seen(ctx.vectors, names[0], run.source, run.job_id, there, {})
        if after is None:
            break
    # Left unmarked now: frames whose video item went (or was never written): none is needed.
    ctx.vectors.delete_by_filter(names[0], unseen_filter(run.source, run.job_id))
