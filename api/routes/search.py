"""Search one collection or several, and zero-shot classification; each takes a JSON body, or a
multipart body with image uploads."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from mmsearch.api import server_timing
from mmsearch.api.metrics import SEARCH_SECONDS, query_kind
from mmsearch.api.routes import caller_tenant, json_object, render, runtime
from mmsearch.api.schemas.queries import ClassifyRequest, FanoutSearchRequest, SearchRequest
from mmsearch.api.services import classify as classify_service
from mmsearch.api.services import search as search_service
from mmsearch.api.services.query import QueryStores, Uploads
from mmsearch.infra.errors import InvalidRequest


def _body_and_uploads() -> tuple[dict[str, Any], Uploads]:
    """JSON body, or multipart: a JSON `request` field plus image file parts.

    A multipart request with one file and no query uses that file as the image query.
    """
    if not request.mimetype.startswith("multipart/"):
        return json_object(), {}
    uploads = {name: part.read() for name, part in request.files.items()}
    raw = request.form.get("request", "{}")
    try:
        body = current_app.json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest("form field 'request' is not valid JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("form field 'request' must be a JSON object")
    no_query = not any(k in body for k in ("text", "image", "item_id", "query", "recommend"))
    if no_query and len(uploads) == 1:
        body["image"] = {"upload": next(iter(uploads))}
    return body, uploads


def _query_stores() -> QueryStores:
    rt = runtime()
    return QueryStores(
        rt.vectors, rt.encoder, rt.text_queries, rt.objects, rt.settings, rt.reranker
    )


def _timed(rendered: tuple[Response, int], timings: dict[str, float]) -> tuple[Response, int]:
    """The rendered response with a `Server-Timing` header."""
    rendered[0].headers["Server-Timing"] = server_timing.header(timings)
    return rendered


def search(name: str) -> tuple[Response, int]:
    """Search one collection by text, image, stored item, a weighted mix or recommendation."""
    body, uploads = _body_and_uploads()
    query = SearchRequest.model_validate(body)
    timer = SEARCH_SECONDS.labels("collection", query_kind(query)).time()
    with timer, server_timing.collect() as timings:
        response = search_service.search(_query_stores(), name, query, uploads, caller_tenant())
    return _timed(render(response), timings)


def fanout_search() -> tuple[Response, int]:
    """Search several collections of one model and merge the hits."""
    body, uploads = _body_and_uploads()
    query = FanoutSearchRequest.model_validate(body)
    timer = SEARCH_SECONDS.labels("fanout", query_kind(query)).time()
    with timer, server_timing.collect() as timings:
        response = search_service.fanout(_query_stores(), query, uploads, caller_tenant())
    return _timed(render(response), timings)


def classify() -> tuple[Response, int]:
    """Zero-shot labels for an image, with the model of a collection or a named one."""
    body, uploads = _body_and_uploads()
    query = ClassifyRequest.model_validate(body)
    rt = runtime()
    response = classify_service.classify(
        rt.vectors, rt.encoder, rt.objects, rt.settings, query, uploads, caller_tenant()
    )
    return render(response)
