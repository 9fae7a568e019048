"""The embedded store's query and bulk-update methods (a mixin of EdgeVectorStore).

qdrant-edge-py 0.9.0 has no recommend strategy average_vector (only best_score / sum_scores)
and no grouping in Python, so `recommend` computes Qdrant's average_vector target itself and
`search_groups` groups paged searches (see edge_groups); the rest maps onto the engine's
query, query_batch, scroll and update calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np
import qdrant_edge as qe

from mmsearch.infra.errors import BadFilter
from mmsearch.infra.vectors.base import IMAGE_VECTOR, FilterJSON, Hit, HitGroup, VectorPoint
from mmsearch.infra.vectors.checks import (
    canonical_id,
    check_page,
    check_vector,
    check_vector_name,
    rank_page,
    read_point,
)
from mmsearch.infra.vectors.edge_filters import to_edge_filter
from mmsearch.infra.vectors.edge_groups import edge_hits, search_groups
from mmsearch.infra.vectors.queries import (
    RRF_K,
    average_vector,
    check_examples,
    check_groups,
    check_hybrid,
    check_payload,
    check_scroll,
    example_vectors,
    rank_batch,
    rank_fused,
    scroll_fetch,
    scroll_page,
)

if TYPE_CHECKING:
    from mmsearch.infra.vectors.edge import _Collection


class EdgeQueries:
    """Every kind of search, scroll, set_payload and delete_by_filter."""

    if TYPE_CHECKING:

        def _use(self, name: str) -> AbstractContextManager[_Collection]: ...

        def _written(self, name: str, coll: _Collection, n: int) -> None: ...

    def search(
        self,
        name: str,
        vector: np.ndarray,
        *,
        using: str = IMAGE_VECTOR,
        filter: FilterJSON | None = None,
        limit: int = 10,
        offset: int = 0,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """Nearest points by cosine on vector `using`, best first, ties broken by id."""
        check_vector_name(using)
        check_page(limit, offset, score_threshold)
        edge_filter = to_edge_filter(filter)
        with self._use(name) as coll:
            query = qe.Query.Nearest(check_vector(vector, coll.spec.dim, "query vector"), using)
            return self._nearest_page(coll, query, edge_filter, limit, offset, score_threshold)

    def _nearest_page(
        self,
        coll: _Collection,
        query: qe.Query,
        edge_filter: qe.Filter | None,
        limit: int,
        offset: int,
        score_threshold: float | None,
    ) -> list[Hit]:
        """One page of a nearest-vector search, ranked by score then id."""

        def fetch(n: int) -> list[Hit]:
            request = qe.SearchRequest(
                query=query,
                limit=n,
                filter=edge_filter,
                params=coll.params,
                with_payload=True,
                with_vector=False,
                score_threshold=score_threshold,
            )
            return edge_hits(coll.shard.search(request))

        return rank_page(fetch, limit, offset)

    def search_hybrid(
        self,
        name: str,
        vectors: dict[str, np.ndarray],
        *,
        filter: FilterJSON | None = None,
        limit: int = 10,
        offset: int = 0,
        prefetch_limit: int | None = None,
    ) -> list[Hit]:
        """Reciprocal rank fusion of the top `prefetch_limit` on each named vector (k=2)."""
        check_page(limit, offset, None)
        edge_filter = to_edge_filter(filter)
        with self._use(name) as coll:
            queries, depth = check_hybrid(vectors, coll.spec.dim, limit, offset, prefetch_limit)
            prefetches = [
                qe.Prefetch(limit=depth, query=qe.Query.Nearest(vec, using), params=coll.params)
                for using, vec in queries.items()
            ]

            def fetch(n: int) -> list[Hit]:
                request = qe.QueryRequest(
                    limit=n,
                    query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # the stub omits it
                    prefetches=prefetches,
                    filter=edge_filter,  # the engine applies it to every prefetch
                    with_payload=True,
                    with_vector=False,
                )
                return edge_hits(coll.shard.query(request))

            return rank_fused(fetch, limit, offset)

    def recommend(
        self,
        name: str,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        *,
        using: str = IMAGE_VECTOR,
        filter: FilterJSON | None = None,
        limit: int = 10,
        offset: int = 0,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """Nearest to 2·mean(positive) − mean(negative) (average_vector), examples excluded."""
        check_vector_name(using)
        check_page(limit, offset, score_threshold)
        pos, neg = check_examples(positive, negative)
        edge_filter = to_edge_filter(filter)
        examples = list(dict.fromkeys([*pos, *neg]))
        with self._use(name) as coll:
            records = coll.shard.retrieve(list(examples), False, [using])
            found = [read_point(str(r.id), r.vector, None) for r in records]
            vectors = example_vectors(found, examples, using)
            target = average_vector([vectors[i] for i in pos], [vectors[i] for i in neg])
            query = qe.Query.Nearest(target, using)
            not_examples = qe.Filter(
                must=None if edge_filter is None else [edge_filter],
                must_not=[qe.HasIdCondition(set(examples))],
            )
            return self._nearest_page(coll, query, not_examples, limit, offset, score_threshold)

    def search_groups(
        self,
        name: str,
        vector: np.ndarray,
        *,
        group_by: str,
        group_size: int = 1,
        limit: int = 10,
        using: str = IMAGE_VECTOR,
        filter: FilterJSON | None = None,
        score_threshold: float | None = None,
    ) -> list[HitGroup]:
        """Up to `limit` groups by the string/integer values at payload path `group_by`."""
        check_vector_name(using)
        check_groups(group_by, group_size, limit, score_threshold)
        edge_filter = to_edge_filter(filter)
        with self._use(name) as coll:
            query = qe.Query.Nearest(check_vector(vector, coll.spec.dim, "query vector"), using)
            return search_groups(
                coll.shard,
                query,
                edge_filter,
                coll.params,
                group_by=group_by,
                group_size=group_size,
                limit=limit,
                score_threshold=score_threshold,
            )

    def search_batch(
        self,
        name: str,
        vectors: Sequence[np.ndarray],
        *,
        using: str = IMAGE_VECTOR,
        filter: FilterJSON | None = None,
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[list[Hit]]:
        """One search() per vector (same filter and limit), run as one engine batch."""
        check_vector_name(using)
        check_page(limit, 0, score_threshold)
        edge_filter = to_edge_filter(filter)
        with self._use(name) as coll:
            dim = coll.spec.dim
            queries = [
                qe.Query.Nearest(check_vector(v, dim, f"query vector {i}"), using)
                for i, v in enumerate(vectors)
            ]

            def request(query: qe.Query, n: int) -> qe.QueryRequest:
                return qe.QueryRequest(
                    limit=n,
                    query=query,
                    filter=edge_filter,
                    params=coll.params,
                    score_threshold=score_threshold,
                    with_payload=True,
                    with_vector=False,
                )

            def fetch_all(n: int) -> list[list[Hit]]:
                batch = qe.QueryBatchRequest([request(q, n) for q in queries])
                return [edge_hits(found) for found in coll.shard.query_batch(batch)]

            def fetch_one(i: int, n: int) -> list[Hit]:
                return edge_hits(coll.shard.query(request(queries[i], n)))

            return rank_batch(fetch_all, fetch_one, len(queries), limit)

    def scroll(
        self,
        name: str,
        *,
        limit: int = 256,
        after: str | None = None,
        filter: FilterJSON | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[VectorPoint], str | None]:
        """Up to `limit` points in ascending id order with id > `after`, and the next cursor."""
        after = check_scroll(limit, after)
        edge_filter = to_edge_filter(filter)
        request = qe.ScrollRequest(
            offset=after,  # inclusive: `after` itself comes back when it still exists
            limit=scroll_fetch(limit, after),
            filter=edge_filter,
            with_payload=True,
            with_vector=with_vectors,
        )
        with self._use(name) as coll:
            records, _ = coll.shard.scroll(request)
        points = [
            read_point(str(r.id), r.vector if with_vectors else None, r.payload) for r in records
        ]
        return scroll_page(points, limit, after)

    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set (overwrite) the given top-level payload keys on points; unknown ids are ignored."""
        check_payload(payload)
        wanted = [canonical_id(i) for i in ids]
        with self._use(name) as coll:
            if wanted and payload:
                # by filter: the engine skips ids it does not hold (by id it fails on them)
                only = qe.Filter(must=[qe.HasIdCondition(set(wanted))])
                coll.shard.update(qe.UpdateOperation.set_payload_by_filter(only, payload))
                self._written(name, coll, 0)

    def delete_by_filter(self, name: str, filter: FilterJSON) -> int:
        """Delete the points matching `filter`; return how many were deleted."""
        edge_filter = to_edge_filter(filter)
        if edge_filter is None:
            raise BadFilter("delete_by_filter needs a filter ({} matches every point)")
        with self._use(name) as coll:  # count and delete under the collection lock
            count = coll.shard.count(qe.CountRequest(exact=True, filter=edge_filter))
            if count:
                coll.shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter))
                self._written(name, coll, count)
            return count
