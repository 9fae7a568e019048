"""A video item's frames: each a point of its own (see mmsearch.infra.catalog.payload), found
together by the video's id within the tenant that owns it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mmsearch.infra.catalog.payload import TENANT_FIELD, VIDEO_ID_KEY
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.vectors import CollectionSpec, VectorStore

FRAME_PAGE = 1000


def frames_filter(video_ids: Iterable[str], tenant: str | None) -> dict[str, Any]:
    """The frames of these videos of `tenant` (no tenant: the frames with none), and no other
    tenant's even where item ids are the same."""
    ids = sorted(set(video_ids))
    owner: dict[str, Any] = (
        {"key": TENANT_FIELD, "match": {"value": tenant}}
        if tenant is not None
        else {"is_empty": {"key": TENANT_FIELD}}
    )
    return {"must": [{"key": VIDEO_ID_KEY, "match": {"any": ids}}, owner]}


def frame_point_id(
    spec: CollectionSpec, video_id: str, t: float, index: int, tenant: str | None
) -> str:
    """A frame's point id: the video item's own for its first frame (so the item is found by
    its id), one derived from the time for the others; the same on every ingest of it."""
    if index == 0:
        return item_point_id(spec, video_id, tenant)
    return item_point_id(spec, f"{video_id}\x00t={t:.3f}", tenant)


def frame_ids(
    vectors: VectorStore, collection: str, video_id: str, tenant: str | None
) -> list[str]:
    """The point ids of a video's frames."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = vectors.scroll(
            collection, limit=FRAME_PAGE, after=cursor, filter=frames_filter([video_id], tenant)
        )
        found += [point.id for point in page]
        if cursor is None:
            return found
