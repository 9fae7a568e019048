"""The Qdrant server store's searches and scroll: VectorStore's engine hooks over qdrant-client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from qdrant_client import models

from mmsearch.infra.vectors.arguments import Page
from mmsearch.infra.vectors.base import VectorStore
from mmsearch.infra.vectors.checks import check_vector, check_vectors, read_point
from mmsearch.infra.vectors.filters import parse_filter
from mmsearch.infra.vectors.keywords import Sparse
from mmsearch.infra.vectors.qdrant.collection import ServerCollection, ServerCollections
from mmsearch.infra.vectors.ranking import (
    example_target,
    rank_batch,
    rank_groups,
    rank_page,
)
from mmsearch.infra.vectors.types import KEYWORD_VECTOR, FilterJSON, Hit, HitGroup, VectorPoint

_HITS: dict[str, Any] = {"with_payload": True, "with_vectors": False}  # what searches return


class ServerSearches(VectorStore):
    """The search and scroll hooks of the server store, on the `server`'s collections."""

    def __init__(self, server: ServerCollections) -> None:
        self._server = server

    def _search(self, name: str, vector: np.ndarray, using: str, page: Page) -> list[Hit]:
        query_filter = parse_filter(page.filter)
        coll = self._server.open(name)
        query = check_vector(vector, coll.spec.dim, "query vector")
        return _nearest(coll, query, using, query_filter, page)

    def _search_sparse(self, name: str, query: Sparse, page: Page) -> list[Hit]:
        query_filter = parse_filter(page.filter)
        coll = self._server.open(name)
        if not query.indices:  # a text without terms matches nothing
            return []
        corpus = parse_filter(page.idf_corpus)
        idf = None
        if corpus is not None:
            idf = models.SearchParams(idf=models.IdfCorpusParams(corpus=corpus))
        return _nearest(coll, server_sparse(query), KEYWORD_VECTOR, query_filter, page, idf)

    def _recommend(
        self, name: str, positive: list[str], negative: list[str], using: str, page: Page
    ) -> list[Hit]:
        query_filter = parse_filter(page.filter)
        coll = self._server.open(name)
        examples = list(dict.fromkeys([*positive, *negative]))
        with coll.errors():
            records = coll.client.retrieve(
                coll.spec.name, ids=examples, with_payload=False, with_vectors=[using]
            )
        found = [read_point(str(r.id), r.vector, None) for r in records]
        example_target(found, positive, negative, using)  # refuses missing examples, a zero target
        strategy = models.RecommendStrategy.AVERAGE_VECTOR
        recommend = models.RecommendInput(
            positive=list(positive), negative=list(negative) or None, strategy=strategy
        )
        query = models.RecommendQuery(recommend=recommend)
        return _nearest(coll, query, using, query_filter, page)

    def _search_groups(
        self, name: str, vector: np.ndarray, using: str, page: Page, group_by: str, size: int
    ) -> list[HitGroup]:
        query_filter = parse_filter(page.filter)
        coll = self._server.open(name)
        query = check_vector(vector, coll.spec.dim, "query vector")
        args = _nearest_args(coll, using, query_filter, page)

        def fetch(groups: int, hits: int) -> dict[Any, list[Hit]]:
            with coll.filtering(page.filter):
                found = coll.client.query_points_groups(
                    coll.spec.name, group_by, query=query, limit=groups, group_size=hits, **args
                )
            return {g.id: server_hits(g.hits) for g in found.groups}

        return rank_groups(fetch, page.limit, size)

    def _search_batch(
        self, name: str, vectors: Sequence[np.ndarray], using: str, page: Page
    ) -> list[list[Hit]]:
        query_filter = parse_filter(page.filter)
        coll = self._server.open(name)
        queries = list(check_vectors(dict(enumerate(vectors)), coll.spec.dim).values())
        args: dict[str, Any] = {
            "filter": query_filter,
            "params": coll.params,
            "with_payload": True,
            "with_vector": False,  # QueryRequest's names for _HITS
        }

        def request(query: list[float], n: int) -> models.QueryRequest:
            return models.QueryRequest(
                query=query, using=using, limit=n, score_threshold=page.score_threshold, **args
            )

        def fetch(requests: list[models.QueryRequest]) -> list[list[Hit]]:
            with coll.filtering(page.filter):
                answers = coll.client.query_batch_points(coll.spec.name, requests=requests)
            return [server_hits(a.points) for a in answers]

        def fetch_all(n: int) -> list[list[Hit]]:
            return fetch([request(q, n) for q in queries])

        def fetch_one(i: int, n: int) -> list[Hit]:
            return fetch([request(queries[i], n)])[0]

        return rank_batch(fetch_all, fetch_one, len(queries), page.limit)

    def _scroll(
        self, name: str, start: str | None, count: int, filter: FilterJSON | None, vectors: bool
    ) -> list[VectorPoint]:
        scroll_filter = parse_filter(filter)
        coll = self._server.open(name)
        with coll.filtering(filter):
            records, _ = coll.client.scroll(
                coll.spec.name,
                scroll_filter=scroll_filter,
                limit=count,
                offset=start,
                with_payload=True,
                with_vectors=vectors,
            )
        return [read_point(str(r.id), r.vector if vectors else None, r.payload) for r in records]


def server_sparse(vector: Sparse) -> models.SparseVector:
    """qdrant-client's form of a sparse vector."""
    return models.SparseVector(indices=vector.indices, values=vector.values)


def server_hits(found: Sequence[models.ScoredPoint]) -> list[Hit]:
    """Hits from qdrant-client's scored points."""
    return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in found]


def _nearest_args(
    coll: ServerCollection,
    using: str,
    flt: models.Filter | None,
    page: Page,
    params: models.SearchParams | None = None,
) -> dict[str, Any]:
    """query_points (and query_points_groups) arguments of a nearest-vector search."""
    return {
        "using": using,
        "query_filter": flt,
        "score_threshold": page.score_threshold,
        "search_params": params or coll.params,
        **_HITS,
        "with_payload": page.with_payload,
    }


def _nearest(
    coll: ServerCollection,
    query: Any,
    using: str,
    flt: models.Filter | None,
    page: Page,
    params: models.SearchParams | None = None,
) -> list[Hit]:
    """One page of a nearest search (`query`: a vector or a recommend query), by score then id."""
    args = _nearest_args(coll, using, flt, page, params)

    def fetch(n: int) -> list[Hit]:
        with coll.filtering(page.filter):
            found = coll.client.query_points(coll.spec.name, query=query, limit=n, **args)
        return server_hits(found.points)

    return rank_page(fetch, page.limit, page.offset, ties=page.ties)
