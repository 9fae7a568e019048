"""Item lifecycle and near-duplicate groups, over the vector store's own operations."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mmsearch.api.schemas.queries import (
    Deleted,
    DuplicateGroup,
    DuplicateItem,
    DuplicatesRequest,
    DuplicatesResponse,
    ItemPatch,
    ItemPublic,
    ItemsDelete,
    VideoSummary,
)
from mmsearch.infra.catalog.coerce import coerce_metadata, typed_request_metadata
from mmsearch.infra.catalog.filters import to_payload_filter
from mmsearch.infra.catalog.metadata import MetadataLimits, metadata_problem
from mmsearch.infra.catalog.payload import ItemPayload, metadata_update
from mmsearch.infra.catalog.points import item_point_ids
from mmsearch.infra.catalog.tenancy import owned, scoped
from mmsearch.infra.catalog.versions import metadata_fields
from mmsearch.infra.catalog.videos import frame_ids
from mmsearch.infra.errors import InvalidRequest, ItemNotFound
from mmsearch.infra.vectors import IMAGE_VECTOR, CollectionSpec, VectorPoint, VectorStore
from mmsearch.infra.vectors.filters import CLAUSES

SCAN_PAGE = 128


def find_point(
    vectors: VectorStore, spec: CollectionSpec, item_id: str, tenant: str | None
) -> VectorPoint:
    """An item's point with its vectors; 404 when it is absent or another tenant's."""
    ids = item_point_ids(spec, [item_id], tenant)
    found = vectors.retrieve(spec.name, ids, with_vectors=True)
    if not found or not owned(found[0].payload, tenant):
        raise ItemNotFound(f"item {item_id!r} not found in {spec.name!r}", details={"id": item_id})
    return found[0]


def _public(vectors: VectorStore, spec: CollectionSpec, point: VectorPoint) -> ItemPublic:
    item = ItemPayload.from_payload(point.payload, point.id)
    shown = item.public()
    if item.video is not None:  # a video: its frames and length, not one frame's place
        frames = len(frame_ids(vectors, spec.name, item.video.id, item.tenant))
        shown["video"] = VideoSummary(frames=frames, duration_s=item.video.duration_s)
    return ItemPublic(**shown, vectors=sorted(point.vectors))


def _points_of(vectors: VectorStore, spec: CollectionSpec, point: VectorPoint) -> list[str]:
    """An item's points: its own, or every frame of a video."""
    item = ItemPayload.from_payload(point.payload, point.id)
    if item.video is None:
        return [point.id]
    return frame_ids(vectors, spec.name, item.video.id, item.tenant) or [point.id]


def get_item(
    vectors: VectorStore, collection: str, item_id: str, tenant: str | None = None
) -> ItemPublic:
    """One item by its external id (a video: with its frame count and duration)."""
    spec = vectors.spec(collection)
    return _public(vectors, spec, find_point(vectors, spec, item_id, tenant))


def patch_item(
    vectors: VectorStore,
    collection: str,
    item_id: str,
    body: ItemPatch,
    tenant: str | None = None,
    *,
    metadata_limits: MetadataLimits | None = None,
) -> ItemPublic:
    """Change an item's metadata without re-embedding it, converted to the collection's declared
    types; 422 when a given value cannot be, or the merged metadata would exceed
    `metadata_limits`. Values kept from before types were enforced are converted if they can be."""
    spec = vectors.spec(collection)
    schema = metadata_fields(spec)
    point = find_point(vectors, spec, item_id, tenant)
    current = ItemPayload.from_payload(point.payload, point.id).metadata
    given = typed_request_metadata(schema, body.metadata)
    kept = {} if body.replace else coerce_metadata(schema, current, strict=False)
    metadata = {**kept, **given}
    problem = metadata_problem(metadata, metadata_limits or MetadataLimits())
    if problem is not None:
        raise InvalidRequest(problem, details=[{"field": "metadata", "message": problem}])
    vectors.set_payload(spec.name, _points_of(vectors, spec, point), metadata_update(metadata))
    point.payload.update(metadata_update(metadata))
    return _public(vectors, spec, point)


def delete_item(
    vectors: VectorStore, collection: str, item_id: str, tenant: str | None = None
) -> Deleted:
    """Remove one item; 404 when it does not exist."""
    spec = vectors.spec(collection)
    point = find_point(vectors, spec, item_id, tenant)
    vectors.delete_points(spec.name, _points_of(vectors, spec, point))
    return Deleted(deleted=1)


def _conditions(payload_filter: dict[str, Any] | None) -> dict[str, Any]:
    """The filter if it has a condition; one without would delete every item (that takes
    `all: true`)."""
    if payload_filter and any(payload_filter.get(key) for key in (*CLAUSES, "min_should")):
        return payload_filter
    raise InvalidRequest(
        'the filter has no conditions; send {"all": true} to delete every item',
        details=[{"field": "filter"}],
    )


def delete_items(
    vectors: VectorStore, collection: str, body: ItemsDelete, tenant: str | None = None
) -> Deleted:
    """Remove items by external ids, a metadata filter or all of them; report how many went."""
    spec = vectors.spec(collection)
    if body.filter is not None or body.all:
        chosen = None if body.all else _conditions(to_payload_filter(body.filter))
        payload_filter = scoped(chosen, tenant) or {}
        return Deleted(deleted=vectors.delete_by_filter(spec.name, payload_filter))
    ids = item_point_ids(spec, body.ids or [], tenant)
    found = [p for p in vectors.retrieve(spec.name, ids) if owned(p.payload, tenant)]
    vectors.delete_points(spec.name, [i for p in found for i in _points_of(vectors, spec, p)])
    return Deleted(deleted=len(found))


class _Groups:
    """Union-find over point ids, remembering each point's best link."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.best: dict[str, float] = defaultdict(float)

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def link(self, a: str, b: str, score: float) -> None:
        self.parent[self.find(a)] = self.find(b)
        self.best[a] = max(self.best[a], score)
        self.best[b] = max(self.best[b], score)


def find_duplicates(
    vectors: VectorStore, collection: str, body: DuplicatesRequest, tenant: str | None = None
) -> DuplicatesResponse:
    """Groups of items at least `threshold` similar, found with batched engine searches."""
    spec = vectors.spec(collection)
    payload_filter = scoped(to_payload_filter(body.filter), tenant)
    groups, items, scanned, cursor = _Groups(), {}, 0, None
    while True:
        page, cursor = vectors.scroll(
            spec.name, limit=SCAN_PAGE, after=cursor, filter=payload_filter, with_vectors=True
        )
        page = [p for p in page if IMAGE_VECTOR in p.vectors]
        scanned += len(page)
        neighbours = vectors.search_batch(
            spec.name,
            [p.vectors[IMAGE_VECTOR] for p in page],
            filter=payload_filter,
            limit=body.max_group_size,
            score_threshold=body.threshold,
        )
        for point, hits in zip(page, neighbours, strict=True):
            items[point.id] = ItemPayload.from_payload(point.payload, point.id)
            for hit in hits:
                if hit.id != point.id:
                    groups.link(point.id, hit.id, hit.score)
        if cursor is None:
            break
    members: dict[str, list[str]] = defaultdict(list)
    for point_id in groups.parent:
        members[groups.find(point_id)].append(point_id)
    result = [
        DuplicateGroup(
            items=sorted(
                (
                    DuplicateItem(id=items[i].id, uri=items[i].uri, score=groups.best[i])
                    for i in ids
                    if i in items
                ),
                key=lambda item: (-item.score, item.id),
            )
        )
        for ids in members.values()
        if len(ids) > 1
    ]
    result.sort(key=lambda g: (-len(g.items), g.items[0].id))
    return DuplicatesResponse(groups=result, scanned=scanned)
