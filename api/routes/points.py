"""Points: a collection's items with their vectors, read page by page and written back."""

from __future__ import annotations

from flask import Response, request

from mmsearch.api.routes import caller_tenant, json_object, parse, render, runtime
from mmsearch.api.schemas.points import PointsQuery, PointsUpsert
from mmsearch.api.services import points as point_service


def read_points(name: str) -> tuple[Response, int]:
    """A page of items with their vectors, in a stable order, and the next page's cursor."""
    query = PointsQuery.model_validate(request.args.to_dict())
    page = point_service.read_points(
        runtime().vectors,
        name,
        after=query.after,
        limit=query.limit,
        with_vectors=query.vectors,
        user_filter=query.filter,
        tenant=caller_tenant(),
    )
    return render(page)


def write_points(name: str) -> tuple[Response, int]:
    """Upsert items with precomputed vectors (no embedding)."""
    rt, body = runtime(), json_object()
    # Counted before validation, so an oversized request is refused without parsing every point.
    point_service.check_point_count(body, rt.settings.max_points_per_request)
    points = parse(PointsUpsert, body)
    return render(point_service.write_points(rt.vectors, name, points, caller_tenant()))
