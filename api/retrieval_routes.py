"""The /v1 retrieval endpoints: search, fan-out, classify, items, duplicates."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from mmsearch.api import server_timing
from mmsearch.api.auth import caller_tenant
from mmsearch.api.metrics import SEARCH_SECONDS, query_kind
from mmsearch.api.routes import parse, render, runtime
from mmsearch.api.schemas.queries import (
    ClassifyRequest,
    DuplicatesRequest,
    FanoutSearchRequest,
    ItemPatch,
    ItemsDelete,
    SearchRequest,
)
from mmsearch.api.services import classify as classify_service
from mmsearch.api.services import items as item_service
from mmsearch.api.services import search as search_service
from mmsearch.api.services import thumbnails
from mmsearch.api.services.query import Uploads
from mmsearch.infra.errors import InvalidRequest

bp = Blueprint("retrieval", __name__, url_prefix="/v1")


def _body_and_uploads() -> tuple[dict[str, Any], Uploads]:
    """JSON body, or multipart: a JSON `request` field plus image file parts.

    A multipart request with one file and no query uses that file as the image query.
    """
    if not request.mimetype.startswith("multipart/"):
        return parse_json(), {}
    uploads = {name: part.read() for name, part in request.files.items()}
    raw = request.form.get("request", "{}")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest("form field 'request' is not valid JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("form field 'request' must be a JSON object")
    no_query = not any(k in body for k in ("text", "image", "item_id", "query", "recommend"))
    if no_query and len(uploads) == 1:
        body["image"] = {"upload": next(iter(uploads))}
    return body, uploads


def parse_json() -> dict[str, Any]:
    body = request.get_json(force=True, silent=False)
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", details=[{"field": "body"}])
    return body


@bp.post("/collections/<name>/search")
def search(name: str) -> tuple[Response, int]:
    body, uploads = _body_and_uploads()
    query = SearchRequest.model_validate(body)
    timer = SEARCH_SECONDS.labels("collection", query_kind(query)).time()
    with timer, server_timing.collect() as timings:
        response = search_service.search(runtime(), name, query, uploads, caller_tenant())
    return timed(render(response), timings)


@bp.post("/search")
def fanout_search() -> tuple[Response, int]:
    body, uploads = _body_and_uploads()
    query = FanoutSearchRequest.model_validate(body)
    timer = SEARCH_SECONDS.labels("fanout", query_kind(query)).time()
    with timer, server_timing.collect() as timings:
        response = search_service.fanout(runtime(), query, uploads, caller_tenant())
    return timed(render(response), timings)


def timed(rendered: tuple[Response, int], timings: dict[str, float]) -> tuple[Response, int]:
    """The rendered response with a `Server-Timing` header."""
    rendered[0].headers["Server-Timing"] = server_timing.header(timings)
    return rendered


@bp.post("/classify")
def classify() -> tuple[Response, int]:
    body, uploads = _body_and_uploads()
    query = ClassifyRequest.model_validate(body)
    return render(classify_service.classify(runtime(), query, uploads))


@bp.get("/collections/<name>/items/<path:item_id>")
def get_item(name: str, item_id: str) -> tuple[Response, int]:
    return render(item_service.get_item(runtime(), name, item_id, caller_tenant()))


@bp.get("/collections/<name>/thumbnails/<path:item_id>")
def thumbnail(name: str, item_id: str) -> Response:
    jpeg = thumbnails.thumbnail(runtime(), name, item_id, caller_tenant())
    response = Response(jpeg, content_type="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.patch("/collections/<name>/items/<path:item_id>")
def patch_item(name: str, item_id: str) -> tuple[Response, int]:
    body = parse(ItemPatch)
    return render(item_service.patch_item(runtime(), name, item_id, body, caller_tenant()))


@bp.delete("/collections/<name>/items/<path:item_id>")
def delete_item(name: str, item_id: str) -> tuple[Response, int]:
    return render(item_service.delete_item(runtime(), name, item_id, caller_tenant()))


@bp.post("/collections/<name>/items:delete")
def delete_items(name: str) -> tuple[Response, int]:
    body = parse(ItemsDelete)
    return render(item_service.delete_items(runtime(), name, body, caller_tenant()))


@bp.post("/collections/<name>/duplicates")
def duplicates(name: str) -> tuple[Response, int]:
    body = parse(DuplicatesRequest)
    return render(item_service.find_duplicates(runtime(), name, body, caller_tenant()))
