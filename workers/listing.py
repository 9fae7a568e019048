"""Jobs whose items are discovered as they run: a storage prefix, or another collection."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from mmsearch.infra.catalog.coerce import coerce_metadata
from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.catalog.versions import metadata_fields
from mmsearch.infra.errors import CollectionNotFound, ItemErrorCode
from mmsearch.infra.jobs.items import drop_items, load_items
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.vectors import FieldType, VectorStore
from mmsearch.workers.dispatch import TaskSender, checked_items, queue_items
from mmsearch.workers.items import IngestItem
from mmsearch.workers.pipeline import bound_spec, finish_if_done

log = logging.getLogger(__name__)


def queue_listing(
    jobs: JobStore,
    sender: TaskSender,
    vectors: VectorStore,
    job_id: str,
    collection: str,
    chunks: Iterable[list[dict[str, Any]]],
    options: dict[str, Any] | None = None,
) -> None:
    """Queue each chunk as a batch while counting the job's total; close the listing at the end.

    Batch keys are the chunk positions, so a redelivered listing re-sends the same batches and
    each is still counted once. The job fails, queueing nothing more, once the collection it was
    created for is deleted.
    """
    jobs.mark_started(job_id)
    total = 0
    for index, items in enumerate(chunks):
        if jobs.is_cancelled(job_id):
            return
        try:
            bound_spec(jobs, vectors, job_id, collection)
        except CollectionNotFound as exc:
            log.warning("job %s: listing stopped: %s", job_id, exc.message)
            jobs.fail(job_id, f"{ItemErrorCode.COLLECTION_DELETED}: {exc.message}")
            return
        total += len(items)
        jobs.set_total(job_id, total)
        sender.batches(job_id, collection, items, len(items), tag=f"p{index}-", options=options)
    jobs.set_total(job_id, total, listing_done=True)
    finish_if_done(jobs, vectors, job_id)


def fan_out_stored(
    jobs: JobStore,
    sender: TaskSender,
    vectors: VectorStore,
    job_id: str,
    collection: str,
    metadata: dict[str, Any],
    limits: MetadataLimits,
    batch_size: int,
    options: dict[str, Any] | None = None,
) -> None:
    """Queue the items an ingest request stored for its job, their metadata converted to the
    collection's declared types; a redelivered task whose items are gone (queued already) only
    closes the listing."""
    stored = load_items(jobs, job_id)
    if stored is not None and not jobs.is_cancelled(job_id):
        checked = checked_items(stored, metadata, limits, _declared_types(vectors, collection))
        queue_items(jobs, sender, job_id, collection, checked, batch_size, options)
    drop_items(jobs, job_id)
    jobs.end_listing(job_id)
    finish_if_done(jobs, vectors, job_id)


def _declared_types(vectors: VectorStore, collection: str) -> dict[str, FieldType]:
    """The collection's declared metadata types; none once it is gone (its batches then fail
    as `collection_deleted`)."""
    try:
        return metadata_fields(vectors.spec(collection))
    except CollectionNotFound:
        return {}


def prefix_items(
    objects: ObjectStore,
    prefix: str,
    metadata: dict[str, Any],
    max_objects: int,
    tenant: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Items for every image under a storage prefix (at most `max_objects` of them), each with
    the prefix as given in its uri; a tenant's listing follows no link out of its sources."""
    ref = objects.parse(prefix, prefix=True, tenant=tenant)
    for uri in objects.list_prefix(ref, max_objects, tenant=tenant):
        yield {"uri": uri, "metadata": metadata}


def collection_items(vectors: VectorStore, source: str) -> Iterator[dict[str, Any]]:
    """Items to re-embed: each point's uri, external id, metadata and caption, in id order.

    Values stored before declared types were enforced are converted where that loses nothing;
    one that cannot be is copied as it is, so a re-embed never drops an item.
    """
    schema = _declared_types(vectors, source)
    cursor = None
    while True:
        points, cursor = vectors.scroll(source, limit=256, after=cursor)
        for point in points:
            item = ItemPayload.from_payload(point.payload)
            if item.video is not None and item.video.index != 0:
                continue  # a video is one item: its first frame stands for it
            typed = item.with_metadata(coerce_metadata(schema, item.metadata, strict=False))
            yield IngestItem.from_payload(typed).to_dict()
        if cursor is None:
            return
