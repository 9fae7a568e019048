"""Items with their vectors: read a collection page by page, write precomputed points.

Together they move a collection to another platform without re-embedding: what a page shows is
what the write takes, and the write builds payloads and point ids as ingest does, so an item
written here is found by its id exactly as an ingested one.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from mmsearch.api.schemas.points import (
    PointIn,
    PointPublic,
    PointsPage,
    PointsUpsert,
    PointsWritten,
)
from mmsearch.infra.catalog.coerce import typed_request_metadata
from mmsearch.infra.catalog.filters import to_payload_filter
from mmsearch.infra.catalog.payload import ItemPayload, SourceStamp, VideoRef
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.catalog.tenancy import scoped
from mmsearch.infra.catalog.versions import metadata_fields
from mmsearch.infra.catalog.videos import frame_point_id
from mmsearch.infra.errors import InvalidRequest, TooLarge
from mmsearch.infra.vectors import CollectionSpec, VectorPoint, VectorStore

# How far from unit length a written vector may be: float32 rounding and a reader's float
# formatting stay far inside it, while a vector of another kind (unnormalised) is refused.
UNIT_TOLERANCE = 0.01


def read_points(
    vectors: VectorStore,
    collection: str,
    *,
    after: str | None = None,
    limit: int = 100,
    with_vectors: bool = True,
    user_filter: dict[str, Any] | None = None,
    tenant: str | None = None,
) -> PointsPage:
    """A page of items in point id order after the cursor `after`, within `tenant`."""
    spec = vectors.spec(collection)
    payload_filter = scoped(to_payload_filter(user_filter), tenant)
    page, cursor = vectors.scroll(
        spec.name, limit=limit, after=after, filter=payload_filter, with_vectors=with_vectors
    )
    return PointsPage(data=[_public(point) for point in page], next=cursor)


def _public(point: VectorPoint) -> PointPublic:
    item = ItemPayload.from_payload(point.payload, point.id)
    named = {name: vector.tolist() for name, vector in sorted(point.vectors.items())}
    shown = {
        **item.public(),
        "video": asdict(item.video) if item.video else None,
        "source": item.source.to_payload() if item.source else None,
    }
    return PointPublic(**shown, tenant=item.tenant, vectors=named)


def check_point_count(body: dict[str, Any], limit: int) -> None:
    """Refuse a raw write body of more than `limit` points (413), before validating them."""
    points = body.get("points")
    if isinstance(points, list) and len(points) > limit:
        raise TooLarge(
            f"{len(points)} points exceeds the limit of {limit} per request",
            details={"limit": limit},
        )


def write_points(
    vectors: VectorStore, collection: str, body: PointsUpsert, tenant: str | None = None
) -> PointsWritten:
    """Upsert items with precomputed vectors; any invalid point refuses the whole request (422)."""
    spec = vectors.spec(collection)
    problems: list[dict[str, str]] = []
    points = []
    for row, given in enumerate(body.points):
        try:
            points.append(_point(spec, given, tenant))
        except InvalidRequest as exc:
            problems += [_located(row, problem) for problem in _details(exc)]
    if problems:
        raise InvalidRequest(f"{len(problems)} invalid point(s)", details=problems[:20])
    vectors.upsert(spec.name, points)
    return PointsWritten(upserted=len(points))


def _details(exc: InvalidRequest) -> list[dict[str, Any]]:
    if isinstance(exc.details, list) and exc.details:
        return list(exc.details)
    return [{"message": exc.message}]


def _located(row: int, problem: dict[str, Any]) -> dict[str, Any]:
    """A point's problem with its field pointer within the request body."""
    field = ".".join(part for part in ("points", str(row), problem.get("field")) if part)
    return {**problem, "field": field}


def _point(spec: CollectionSpec, given: PointIn, tenant: str | None) -> VectorPoint:
    """The point of one written item: payload and id as ingest makes them, vectors checked."""
    if tenant is not None and given.tenant not in (None, tenant):
        raise InvalidRequest(
            "a tenant key writes only its own items",
            details=[{"field": "tenant", "message": "another tenant's"}],
        )
    owner = tenant if tenant is not None else given.tenant
    metadata = typed_request_metadata(metadata_fields(spec), given.metadata)
    frame = None
    if given.video is not None:
        if given.video.id != given.id:
            raise InvalidRequest(
                "a frame's id is its video's",
                details=[{"field": "video.id", "message": "not the point's id"}],
            )
        where = given.video
        frame = VideoRef(where.id, where.t, where.duration_s, where.index)
    stamp = SourceStamp(**given.source.model_dump()) if given.source is not None else None
    payload = ItemPayload(given.uri, given.id, metadata, given.text, owner, frame, stamp)
    named: dict[str, np.ndarray] = {
        name: unit_vector(values, spec.dim, name) for name, values in given.vectors.items()
    }
    point_id = (
        frame_point_id(spec, frame.id, frame.t, frame.index, owner)
        if frame is not None
        else item_point_id(spec, given.id, owner)
    )
    return VectorPoint(point_id, named, payload.to_payload())


def unit_vector(values: list[float], dim: int, name: str) -> np.ndarray:
    """`values` as a float32 unit vector of length `dim`; InvalidRequest if it cannot be one."""
    with np.errstate(over="ignore"):  # numbers past float32's range become inf, refused below
        vector = np.asarray(values, dtype=np.float64).astype(np.float32)
    problem, norm = None, math.nan
    if vector.shape != (dim,):
        problem = f"{len(values)} numbers, the collection's vectors have {dim}"
    elif not np.isfinite(vector).all():
        problem = "not all finite numbers (within float32's range)"
    else:
        norm = float(np.linalg.norm(vector.astype(np.float64)))
        if abs(norm - 1.0) > UNIT_TOLERANCE:
            problem = f"length {norm:.4g}, not unit length (within {UNIT_TOLERANCE})"
    if problem is not None:
        raise InvalidRequest(problem, details=[{"field": f"vectors.{name}", "message": problem}])
    if abs(norm - 1.0) <= 1e-6:
        # an exported vector comes back bit for bit, so its scores match the source's exactly
        return vector
    return (vector / np.float32(norm)).astype(np.float32)
