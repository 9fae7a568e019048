"""Search a collection (vector, hybrid, recommend, grouped) or several at once (fan-out)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mmsearch.api.schemas.queries import (
    FanoutSearchRequest,
    SearchGroup,
    SearchHit,
    SearchMode,
    SearchRequest,
    SearchResponse,
)
from mmsearch.api.server_timing import phase
from mmsearch.api.services.query import QueryStores, Uploads, query_vector
from mmsearch.api.services.rerank import rerank_plan
from mmsearch.infra.catalog.filters import to_payload_filter
from mmsearch.infra.catalog.payload import VIDEO_ID_KEY, ItemPayload, metadata_key
from mmsearch.infra.catalog.points import item_point_ids
from mmsearch.infra.catalog.tenancy import scoped
from mmsearch.infra.catalog.versions import public_name
from mmsearch.infra.errors import Conflict, InvalidRequest, ItemNotFound
from mmsearch.infra.vectors import IMAGE_VECTOR, TEXT_VECTOR, CollectionSpec, Hit, VectorStore

_FANOUT = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fanout")


def to_hit(hit: Hit, collection: str | None = None) -> SearchHit:
    """The public form of a scored point."""
    item = ItemPayload.from_payload(hit.payload, hit.id)
    return SearchHit(**item.public(), score=hit.score, collection=collection)


def _using(mode: SearchMode) -> str:
    return TEXT_VECTOR if mode == SearchMode.TEXT else IMAGE_VECTOR


def search(
    stores: QueryStores,
    collection: str,
    body: SearchRequest,
    uploads: Uploads,
    tenant: str | None = None,
) -> SearchResponse:
    """Rank one collection's items for a query (only `tenant`'s items when given)."""
    started = time.perf_counter()
    vectors = stores.vectors
    spec = vectors.spec(collection)
    flt = scoped(to_payload_filter(body.filter), tenant)
    if body.recommend is not None:
        with phase("search"):
            hits = _recommend(vectors, spec, body, flt, tenant)
        return _response(hits, started)
    plan = rerank_plan(stores, spec, body)
    window = body if plan is None else plan.window(body)  # its first K, re-ranked
    if body.mode == SearchMode.KEYWORD:
        assert body.text is not None  # the request's check
        keyword_index(vectors, spec)
        with phase("search"):
            hits = vectors.search_keyword(
                spec.name,
                body.text,
                filter=flt,
                limit=window.limit,
                offset=window.offset,
                idf_corpus=scoped(None, tenant),  # a tenant's words weigh by its own items
            )
    else:
        with phase("encode"):
            encoder = stores.encoder(spec.model)
            vector = query_vector(stores, encoder, body, uploads, spec, tenant)
        with phase("search"):
            if body.group_by is not None:
                return _grouped(vectors, spec, vector, body, flt, started)
            hits = _hits(vectors, spec, vector, window, flt, scoped(None, tenant))
    if plan is None:
        return _response(hits, started)
    with phase("rerank"):
        ranked = plan.apply(stores, body, hits)
    page = ranked[body.offset : body.offset + body.limit]
    results = [to_hit(r.hit).model_copy(update={"rerank_score": r.score}) for r in page]
    return SearchResponse(results=results, took_ms=_ms(started))


def _recommend(
    store: VectorStore,
    spec: CollectionSpec,
    body: SearchRequest,
    flt: dict[str, Any] | None,
    tenant: str | None,
) -> list[Hit]:
    """Recommendations from the caller's example ids; a missing example is named by its id,
    since the point ids the engine reports mean nothing to the caller."""
    assert body.recommend is not None
    positive = item_point_ids(spec, body.recommend.positive, tenant)
    negative = item_point_ids(spec, body.recommend.negative, tenant)
    named = [*body.recommend.positive, *body.recommend.negative]
    caller_ids = dict(zip([*positive, *negative], named, strict=True))
    try:
        return store.recommend(
            spec.name,
            positive,
            negative,
            using=_using(body.mode),
            filter=flt,
            limit=body.limit,
            offset=body.offset,
            score_threshold=body.score_threshold,
        )
    except ItemNotFound as exc:
        missing = [caller_ids[point] for point in exc.details["missing"] if point in caller_ids]
        raise ItemNotFound(
            f"example item(s) not found: {', '.join(map(repr, missing))}",
            details={"missing": missing},
        ) from exc


def _grouped(
    store: VectorStore,
    spec: CollectionSpec,
    vector: np.ndarray,
    body: SearchRequest,
    flt: dict[str, Any] | None,
    started: float,
) -> SearchResponse:
    assert body.group_by is not None
    groups = store.search_groups(
        spec.name,
        vector,
        group_by=VIDEO_ID_KEY if body.group_by == "video" else metadata_key(body.group_by),
        group_size=body.group_size,
        limit=body.offset + body.limit,  # groups come in one order: a page is a slice
        using=_using(body.mode),
        filter=flt,
        score_threshold=body.score_threshold,
    )[body.offset :]
    return SearchResponse(
        groups=[SearchGroup(key=g.key, results=[to_hit(h) for h in g.hits]) for g in groups],
        took_ms=_ms(started),
    )


def _hits(
    store: VectorStore,
    spec: CollectionSpec,
    vector: np.ndarray,
    body: SearchRequest,
    flt: dict[str, Any] | None,
    corpus: dict[str, Any] | None,
) -> list[Hit]:
    """A page of an image, text or hybrid search (`corpus`: the keyword ranking's IDF
    population, a tenant's own items)."""
    if body.mode == SearchMode.HYBRID:
        weights = body.weights.model_dump() if body.weights else {}
        explicit = body.weights is not None and "keyword" in body.weights.model_fields_set
        keyword = (
            _keyword_text(store, spec, body.text, explicit) if weights.get("keyword", 1) else None
        )
        if keyword is None:
            weights.pop("keyword", None)
        return store.search_hybrid(
            spec.name,
            {IMAGE_VECTOR: vector, TEXT_VECTOR: vector},
            keyword=keyword,
            weights=weights,
            filter=flt,
            limit=body.limit,
            idf_corpus=corpus,
            offset=body.offset,
        )
    return store.search(
        spec.name,
        vector,
        using=_using(body.mode),
        filter=flt,
        limit=body.limit,
        offset=body.offset,
        score_threshold=body.score_threshold,
    )


def _keyword_text(
    store: VectorStore, spec: CollectionSpec, text: str | None, explicit: bool
) -> str | None:
    """The text a hybrid query ranks by keyword too: a text query's, where the collection's
    keyword index can be searched (or the caller weighted it, and hears why it cannot)."""
    if text is None:
        return None
    if explicit:
        keyword_index(store, spec)  # no index, or one still filling: the caller is told
        return text
    try:
        store.keyword_config(spec.name)
    except (InvalidRequest, Conflict):
        return None
    return text


def keyword_index(store: VectorStore, spec: CollectionSpec) -> None:
    """Raise, with the way out, where the collection's keyword index cannot be searched."""
    public = public_name(spec)
    try:
        store.keyword_config(spec.name)
    except InvalidRequest as exc:
        raise InvalidRequest(
            f"collection {public!r} has no keyword index: add one with POST "
            f"/v1/collections/{public}/keyword (a job fills it in), or re-embed the collection",
            code=exc.code,
        ) from None
    except Conflict as exc:
        raise Conflict(
            f"the keyword index of {public!r} is still being filled in: search it once its "
            f"job has completed (a job that stopped resumes with POST /v1/collections/{public}"
            "/keyword)",
            code=exc.code,
        ) from None


def fanout(
    stores: QueryStores,
    body: FanoutSearchRequest,
    uploads: Uploads,
    tenant: str | None = None,
) -> SearchResponse:
    """Search several collections of one model in parallel and merge by score."""
    started = time.perf_counter()
    vectors = stores.vectors
    specs = [vectors.spec(name) for name in body.collections]
    _same_model(specs)
    vector = np.zeros(1, dtype=np.float32)
    if body.mode != SearchMode.KEYWORD:
        with phase("encode"):
            encoder = stores.encoder(specs[0].model)
            vector = query_vector(stores, encoder, body, uploads, tenant=tenant)
    flt = scoped(to_payload_filter(body.filter), tenant)
    depth = body.limit + body.offset

    corpus = scoped(None, tenant)
    # fused scores compare only when every collection fuses the same rankings: the keyword
    # one joins where all of them can search it
    keyword = None
    if body.mode == SearchMode.HYBRID:
        words = [_keyword_text(vectors, s, body.text, explicit=False) for s in specs]
        keyword = None if None in words else words[0]

    def one(spec: CollectionSpec) -> list[Hit]:
        if body.mode == SearchMode.KEYWORD:
            assert body.text is not None  # the request's check
            keyword_index(vectors, spec)
            return vectors.search_keyword(
                spec.name, body.text, filter=flt, limit=depth, idf_corpus=corpus
            )
        if body.mode == SearchMode.HYBRID:
            return vectors.search_hybrid(
                spec.name,
                {IMAGE_VECTOR: vector, TEXT_VECTOR: vector},
                keyword=keyword,
                filter=flt,
                limit=depth,
                idf_corpus=corpus,
            )
        return vectors.search(
            spec.name,
            vector,
            using=_using(body.mode),
            filter=flt,
            limit=depth,
            score_threshold=body.score_threshold,
        )

    with phase("search"):
        merged = [
            (hit, name)
            for name, hits in zip(body.collections, _FANOUT.map(one, specs), strict=True)
            for hit in hits
        ]
    merged.sort(key=lambda pair: (-pair[0].score, pair[1], pair[0].id))
    page = merged[body.offset : depth]
    return SearchResponse(results=[to_hit(h, name) for h, name in page], took_ms=_ms(started))


def _same_model(specs: list[CollectionSpec]) -> None:
    models = {spec.name: spec.model for spec in specs}
    if len(set(models.values())) > 1:
        raise InvalidRequest(
            "collections use different models, so their scores are not comparable",
            code="model_mismatch",
            details=models,
        )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _response(hits: list[Hit], started: float) -> SearchResponse:
    return SearchResponse(results=[to_hit(h) for h in hits], took_ms=_ms(started))
