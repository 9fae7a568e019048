"""The embedded store's searches and scroll: VectorStore's engine hooks, over open collections.

qdrant-edge-py 0.9.0 has no recommend strategy average_vector (only best_score / sum_scores)
and no grouping in Python, so `recommend` computes Qdrant's average_vector target itself and
grouped searches page through plain ones (see groups); the rest maps onto the engine's search,
query, query_batch and scroll calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import qdrant_edge as qe

from mmsearch.infra.vectors.arguments import Page
from mmsearch.infra.vectors.base import VectorStore
from mmsearch.infra.vectors.checks import check_vector, check_vectors, read_point
from mmsearch.infra.vectors.edge.collection import EdgeCollection, EdgeCollections, edge_hits
from mmsearch.infra.vectors.edge.filters import to_edge_filter
from mmsearch.infra.vectors.edge.groups import search_groups
from mmsearch.infra.vectors.keywords import Sparse
from mmsearch.infra.vectors.ranking import example_target, rank_batch, rank_page
from mmsearch.infra.vectors.types import KEYWORD_VECTOR, FilterJSON, Hit, HitGroup, VectorPoint


class EdgeSearches(VectorStore):
    """The search and scroll hooks of the embedded store, on its open `collections`."""

    def __init__(self, collections: EdgeCollections) -> None:
        self._collections = collections

    def _search(self, name: str, vector: np.ndarray, using: str, page: Page) -> list[Hit]:
        edge_filter = to_edge_filter(page.filter)
        with self._collections.query(name) as coll:
            query = qe.Query.Nearest(check_vector(vector, coll.spec.dim, "query vector"), using)
            return _nearest(coll, query, edge_filter, page)

    def _search_sparse(self, name: str, query: Sparse, page: Page) -> list[Hit]:
        edge_filter = to_edge_filter(page.filter)
        with self._collections.query(name) as coll:
            if not query.indices:  # a text without terms matches nothing
                return []
            nearest = qe.Query.Nearest(edge_sparse(query), KEYWORD_VECTOR)
            corpus = to_edge_filter(page.idf_corpus)
            idf = None if corpus is None else qe.SearchParams(idf=qe.IdfParams(corpus=corpus))
            return _nearest(coll, nearest, edge_filter, page, idf)

    def _recommend(
        self, name: str, positive: list[str], negative: list[str], using: str, page: Page
    ) -> list[Hit]:
        edge_filter = to_edge_filter(page.filter)
        examples = list(dict.fromkeys([*positive, *negative]))
        with self._collections.query(name) as coll:
            records = coll.shard.retrieve(list(examples), False, [using])
            found = [read_point(str(r.id), r.vector, None) for r in records]
            target = example_target(found, positive, negative, using)
            not_examples = qe.Filter(
                must=None if edge_filter is None else [edge_filter],
                must_not=[qe.HasIdCondition(set(examples))],
            )
            return _nearest(coll, qe.Query.Nearest(target, using), not_examples, page)

    def _search_groups(
        self, name: str, vector: np.ndarray, using: str, page: Page, group_by: str, size: int
    ) -> list[HitGroup]:
        edge_filter = to_edge_filter(page.filter)
        with self._collections.query(name) as coll:
            query = qe.Query.Nearest(check_vector(vector, coll.spec.dim, "query vector"), using)
            return search_groups(
                coll,
                query,
                edge_filter,
                group_by=group_by,
                group_size=size,
                limit=page.limit,
                score_threshold=page.score_threshold,
            )

    def _search_batch(
        self, name: str, vectors: Sequence[np.ndarray], using: str, page: Page
    ) -> list[list[Hit]]:
        edge_filter = to_edge_filter(page.filter)
        with self._collections.use(name) as coll:
            checked = check_vectors(dict(enumerate(vectors)), coll.spec.dim)
            queries = [qe.Query.Nearest(vec, using) for vec in checked.values()]

            def request(query: qe.Query, n: int) -> qe.QueryRequest:
                return qe.QueryRequest(
                    limit=n,
                    query=query,
                    filter=edge_filter,
                    params=coll.params,
                    score_threshold=page.score_threshold,
                    with_payload=True,
                    with_vector=False,
                )

            def fetch_all(n: int) -> list[list[Hit]]:
                batch = qe.QueryBatchRequest([request(q, n) for q in queries])
                return [edge_hits(found) for found in coll.shard.query_batch(batch)]

            def fetch_one(i: int, n: int) -> list[Hit]:
                return edge_hits(coll.shard.query(request(queries[i], n)))

            return rank_batch(fetch_all, fetch_one, len(queries), page.limit)

    def _scroll(
        self, name: str, start: str | None, count: int, filter: FilterJSON | None, vectors: bool
    ) -> list[VectorPoint]:
        request = qe.ScrollRequest(
            offset=start,
            limit=count,
            filter=to_edge_filter(filter),
            with_payload=True,
            with_vector=vectors,
        )
        with self._collections.use(name) as coll:
            records, _ = coll.shard.scroll(request)
        return [read_point(str(r.id), r.vector if vectors else None, r.payload) for r in records]


def edge_sparse(vector: Sparse) -> qe.SparseVector:
    """The engine's form of a sparse vector."""
    return qe.SparseVector(vector.indices, vector.values)


def _nearest(
    coll: EdgeCollection,
    query: qe.Query,
    flt: qe.Filter | None,
    page: Page,
    params: qe.SearchParams | None = None,
) -> list[Hit]:
    """One page of a nearest-vector search, ranked by score then id (with the collection's
    search params unless others are given)."""

    def fetch(n: int) -> list[Hit]:
        request = qe.SearchRequest(
            query=query,
            limit=n,
            filter=flt,
            params=params or coll.params,
            with_payload=page.with_payload,
            with_vector=False,
            score_threshold=page.score_threshold,
        )
        return edge_hits(coll.shard.search(request))

    return rank_page(fetch, page.limit, page.offset, ties=page.ties)
