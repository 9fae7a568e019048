"""A video's frames at ingest: one take per batch, and the frames an earlier ingest of the same
ids left behind, deleted once the new points are in."""

from __future__ import annotations

from collections.abc import Sequence

from mmsearch.infra.catalog.payload import VIDEO_FIELD
from mmsearch.infra.catalog.videos import frames_filter
from mmsearch.infra.vectors import CollectionSpec, VectorStore
from mmsearch.workers.items import IngestItem


def earlier_takes(kept: Sequence[IngestItem]) -> set[int]:
    """Rows of a video that a later item of the same id in the batch replaces (its frames are
    not written, so the video is one take, not a mix of two); the item still counts."""
    last: dict[tuple[str | None, str], int] = {}
    for row, item in enumerate(kept):
        if item.video is not None and item.video.index == 0:
            last[(item.tenant, item.external_id)] = row
    return {
        row
        for row, item in enumerate(kept)
        if item.video is not None and row < last[(item.tenant, item.external_id)]
    }


def videos_replaced(
    vectors: VectorStore, spec: CollectionSpec, written: Sequence[IngestItem]
) -> list[IngestItem]:
    """The images about to be written where a video of the same id stood (read by point id,
    before the write; no payload scan for batches of images over images)."""
    images = [item for item in written if item.video is None]
    if not images:
        return []
    was_video = {
        point.id
        for point in vectors.retrieve(spec.name, [item.point_id(spec) for item in images])
        if point.payload.get(VIDEO_FIELD) is not None
    }
    return [item for item in images if item.point_id(spec) in was_video]


def drop_stale_frames(
    vectors: VectorStore, collection: str, written: Sequence[IngestItem], ids: Sequence[str]
) -> None:
    """Delete the video frames an earlier ingest of these items' ids left that this one did
    not write again (another sampling, a changed video, or a video now an image), after the
    new points are in: a failure between the two leaves extra frames, never none."""
    by_tenant: dict[str | None, set[str]] = {}
    for item in written:
        by_tenant.setdefault(item.tenant, set()).add(item.external_id)
    for tenant, item_ids in by_tenant.items():
        stale = frames_filter(item_ids, tenant)
        stale["must_not"] = [{"has_id": list(ids)}]
        vectors.delete_by_filter(collection, stale)
