"""A collection's sources: add, show, sync and remove them (no Flask here)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from mmsearch.api.schemas.resources import JobAccepted
from mmsearch.api.schemas.sources import (
    SourceCreate,
    SourceDeleted,
    SourcePublic,
    SyncRequest,
    SyncSummary,
)
from mmsearch.infra.catalog.coerce import typed_request_metadata
from mmsearch.infra.catalog.versions import metadata_fields
from mmsearch.infra.errors import JobNotFound, SourceNotFound
from mmsearch.infra.jobs.store import JobStatus, JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.sync.captions import manifest_uri
from mmsearch.infra.sync.listing import probe
from mmsearch.infra.sync.points import ITEMS_ONLY, source_filter
from mmsearch.infra.sync.sources import Source, SourceStore, new_source_id
from mmsearch.workers.schedule import Syncs

log = logging.getLogger(__name__)

_OPTIONS = {"auto_labels", "dedup_threshold", "video"}  # ingest options a source's syncs run with


def add_source(
    syncs: Syncs, objects: ObjectStore, collection: str, body: SourceCreate, tenant: str | None
) -> SourcePublic:
    """Add a source to a collection (404 for no collection; 400 `invalid_uri` for a reference
    that cannot be listed, `forbidden_uri` outside the server's or tenant's limits, and
    `not_found` or `access_denied` for a bucket or folder that is not there or not readable)."""
    spec = syncs.vectors.get_collection(collection).spec
    metadata = typed_request_metadata(metadata_fields(spec), body.metadata)
    uri = body.uri if body.uri.endswith("/") else body.uri + "/"
    objects.parse(uri, prefix=True, tenant=tenant)
    options = body.model_dump(
        include={"auto_labels", "dedup_threshold", "video"}, exclude_none=True
    )
    source = Source(
        id=new_source_id(),
        collection=collection,
        uri=uri,
        include=tuple(body.include),
        exclude=tuple(body.exclude),
        metadata=metadata,
        interval_s=body.interval_s,
        captions=body.captions,
        id_prefix=body.id_prefix,
        options=options,
        tenant=tenant,
        created_at=time.time(),
    )
    if source.captions is not None:
        objects.parse(manifest_uri(source), tenant=tenant)
    probe(objects, source)  # a bucket or folder that cannot be listed is refused now
    syncs.sources.add(source)
    log.info("collection %s: source %s added (%s)", collection, source.id, uri)
    return source_public(syncs, source)


def find_source(syncs: Syncs, collection: str, source_id: str, tenant: str | None) -> Source:
    """A source of the collection the caller's tenant may see (404 otherwise)."""
    source = syncs.sources.get(source_id, collection)
    if tenant is not None and source.tenant != tenant:
        raise SourceNotFound(f"source {source_id[:100]!r} not found")
    return source


def list_sources(syncs: Syncs, collection: str, tenant: str | None) -> list[SourcePublic]:
    syncs.vectors.get_collection(collection)  # 404 for no collection
    found = syncs.sources.of_collection(collection)
    return [source_public(syncs, s) for s in found if tenant is None or s.tenant == tenant]


def start_sync(syncs: Syncs, source: Source, body: SyncRequest) -> JobAccepted:
    """Queue a sync of the source (409 `sync_running` while one runs)."""
    job_id = syncs.start(source, dry_run=body.dry_run)
    return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=None)


def remove_source(syncs: Syncs, source: Source, purge: bool) -> SourceDeleted:
    """Stop syncing a source (its running sync is cancelled); `purge`: delete its items too."""
    stop_source(syncs.sources, syncs.jobs, source)
    purged = 0
    if purge:
        for name in _versions_written(syncs, source.collection):
            counted = syncs.vectors.count(name, source_filter(source, {"must_not": ITEMS_ONLY}))
            syncs.vectors.delete_by_filter(name, source_filter(source))
            purged = max(purged, counted)
    log.info("source %s removed (%d items purged)", source.id, purged)
    return SourceDeleted(source_id=source.id, deleted=True, purged=purged)


def stop_source(sources: SourceStore, jobs: JobStore, source: Source) -> None:
    """Forget a source and cancel its running sync (its batches not yet written are skipped)."""
    slot = sources.slot(source.id)
    sources.remove(source.id)
    if slot.job_id is not None:
        try:
            jobs.cancel(slot.job_id)
        except JobNotFound:
            pass


def stop_collection_sources(sources: SourceStore, jobs: JobStore, collection: str) -> None:
    """Forget the sources of a collection that is gone, their running syncs cancelled."""
    for source in sources.of_collection(collection):
        stop_source(sources, jobs, source)


def _versions_written(syncs: Syncs, collection: str) -> list[str]:
    """The collection's serving version, and the one a re-embed is building, if any."""
    names = [syncs.vectors.spec(collection).name]
    building = syncs.jobs.migration_target(collection)
    return names + [building] if building and building not in names else names


def source_public(syncs: Syncs, source: Source) -> SourcePublic:
    slot = syncs.sources.slot(source.id)
    last = None
    if slot.job_id is not None:
        last = _summary(syncs, slot.job_id, slot.started_at or source.created_at)
    next_at = None
    if source.interval_s:
        full = slot.full_at or slot.started_at or source.created_at
        next_at = _iso(full + source.interval_s)
    return SourcePublic(
        source_id=source.id,
        collection=source.collection,
        uri=source.uri,
        include=list(source.include),
        exclude=list(source.exclude),
        metadata=source.metadata,
        interval_s=source.interval_s,
        captions=source.captions,
        id_prefix=source.id_prefix,
        options=source.options,
        created_at=_iso(source.created_at),
        syncing=syncs.running(source),
        last_sync=last,
        next_sync_at=next_at,
    )


def _summary(syncs: Syncs, job_id: str, started_at: float) -> SyncSummary:
    try:
        state = syncs.jobs.get(job_id, errors_limit=0)
    except JobNotFound:
        return SyncSummary(job_id=job_id, status=None, started_at=_iso(started_at))
    counts = state.sync
    return SyncSummary(
        job_id=job_id,
        status=state.status,
        started_at=_iso(started_at),
        dry_run=counts.dry_run if counts else False,
        added=counts.added if counts else 0,
        updated=counts.updated if counts else 0,
        removed=counts.removed if counts else 0,
        unchanged=counts.unchanged if counts else 0,
        failed=state.failed,
        pending=state.pending,
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()
