"""A source's items in a collection: found by the source's id (within its tenant), marked as
seen by a sync, and removed by key or when a sync has not seen them."""

from __future__ import annotations

from typing import Any

from mmsearch.infra.catalog.payload import SOURCE_FIELD, SOURCE_ID_KEY, SYNC_FIELD, ItemPayload
from mmsearch.infra.catalog.tenancy import scoped
from mmsearch.infra.catalog.videos import FRAME_PAGE, frames_filter
from mmsearch.infra.sync.sources import Source
from mmsearch.infra.vectors import VectorStore

# A video is one item: its first frame's point counts it, the others are left out of counts.
ITEMS_ONLY = [{"key": "video.index", "range": {"gt": 0}}]


def source_filter(source: Source, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The source's points (with `extra` clauses), within its tenant."""
    flt: dict[str, Any] = {"must": [{"key": SOURCE_ID_KEY, "match": {"value": source.id}}]}
    for clause, conditions in (extra or {}).items():
        flt.setdefault(clause, []).extend(conditions)
    return scoped(flt, source.tenant) or flt


def unseen_filter(source: Source, sync: str, *, items_only: bool = False) -> dict[str, Any]:
    """The source's points sync `sync` has not marked (`items_only`: one per item)."""
    other = [{"key": SYNC_FIELD, "match": {"value": sync}}]
    return source_filter(source, {"must_not": other + (ITEMS_ONLY if items_only else [])})


def keys_filter(source: Source, keys: list[str], *, items_only: bool = False) -> dict[str, Any]:
    """The source's points of the objects at these keys (`items_only`: one per item)."""
    extra: dict[str, Any] = {"must": [{"key": f"{SOURCE_FIELD}.key", "match": {"any": keys}}]}
    if items_only:
        extra["must_not"] = ITEMS_ONLY
    return source_filter(source, extra)


def remove_keys(vectors: VectorStore, collection: str, source: Source, keys: list[str]) -> int:
    """Remove the items of the objects at these keys; how many there were."""
    if not keys:
        return 0
    removed = vectors.count(collection, keys_filter(source, keys, items_only=True))
    vectors.delete_by_filter(collection, keys_filter(source, keys))
    return removed


def mark_seen(
    vectors: VectorStore,
    collection: str,
    source: Source,
    sync: str,
    seen: dict[str, ItemPayload],
    stamps: dict[str, dict[str, Any]],
) -> None:
    """Mark items (by point id; every frame of a video) as seen by sync `sync`, and give those
    in `stamps` (by point id) their new source stamp."""
    videos = {item.id: point_id for point_id, item in seen.items() if item.video is not None}
    points = {point_id: [point_id] for point_id in seen}
    after = None
    while videos:
        page, after = vectors.scroll(
            collection, limit=FRAME_PAGE, after=after, filter=frames_filter(videos, source.tenant)
        )
        for point in page:
            frame = ItemPayload.from_payload(point.payload, point.id).video
            if frame is not None and frame.id in videos and point.id not in points:
                points[videos[frame.id]].append(point.id)
        if after is None:
            break
    marked = sorted({point for group in points.values() for point in group})
    if marked:
        vectors.set_payload(collection, marked, {SYNC_FIELD: sync})
    for point_id, stamp in stamps.items():
        vectors.set_payload(collection, points[point_id], {SOURCE_FIELD: stamp})
