"""The qdrant-client store's query and bulk-update methods (a mixin of QdrantServerStore)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError
from qdrant_client import QdrantClient, models

from mmsearch.infra.errors import AppError, BadFilter, InvalidRequest
from mmsearch.infra.vectors.base import (
    IMAGE_VECTOR,
    CollectionSpec,
    FilterJSON,
    Hit,
    HitGroup,
    VectorPoint,
)
from mmsearch.infra.vectors.checks import (
    canonical_id,
    check_page,
    check_vector,
    check_vector_name,
    rank_page,
    read_point,
)
from mmsearch.infra.vectors.queries import (
    average_vector,
    check_examples,
    check_groups,
    check_hybrid,
    check_payload,
    check_scroll,
    example_vectors,
    rank_batch,
    rank_fused,
    rank_groups,
    scroll_fetch,
    scroll_page,
)
from mmsearch.infra.vectors.server_index import search_params

_RRF = models.FusionQuery(fusion=models.Fusion.RRF)  # k = 2, Qdrant's default (see RRF_K)


def server_filter(flt: FilterJSON | None) -> models.Filter | None:
    """The qdrant-client Filter for a Qdrant REST filter (None passes through); raise BadFilter."""
    if flt is None:
        return None
    if not isinstance(flt, dict):
        raise BadFilter("a filter must be an object with must/should/must_not/min_should")
    try:
        return models.Filter.model_validate(flt)
    except ValidationError as exc:
        errors = [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()[:5]]
        raise BadFilter("filter is not a valid Qdrant filter", details=errors) from exc


def server_hits(found: Sequence[models.ScoredPoint]) -> list[Hit]:
    """Hits from qdrant-client's scored points."""
    return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in found]


def _only(ids: Sequence[str]) -> models.FilterSelector:
    return models.FilterSelector(filter=models.Filter(must=[models.HasIdCondition(has_id=[*ids])]))


class ServerQueries:
    """Hybrid, recommend, grouped and batch searches, scroll, set_payload, delete_by_filter."""

    if TYPE_CHECKING:
        client: QdrantClient

        def _spec(self, name: str, cached: bool = True) -> CollectionSpec: ...

        def _errors(
            self, name: str, bad_request: type[AppError] = InvalidRequest
        ) -> AbstractContextManager[None]: ...

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
        query_filter = server_filter(filter)
        spec = self._spec(name)
        queries, depth = check_hybrid(vectors, spec.dim, limit, offset, prefetch_limit)
        prefetch = [
            models.Prefetch(query=vec, using=using, limit=depth, params=search_params(spec.index))
            for using, vec in queries.items()
        ]

        def fetch(n: int) -> list[Hit]:
            with self._filtering(name, filter):
                return server_hits(
                    self.client.query_points(
                        spec.name,
                        prefetch=prefetch,
                        query=_RRF,
                        query_filter=query_filter,
                        limit=n,
                        with_payload=True,
                        with_vectors=False,
                    ).points
                )

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
        query_filter = server_filter(filter)
        spec = self._spec(name)
        examples = list(dict.fromkeys([*pos, *neg]))
        with self._errors(name):
            records = self.client.retrieve(
                spec.name, ids=examples, with_payload=False, with_vectors=[using]
            )
        found = [read_point(str(r.id), r.vector, None) for r in records]
        vectors = example_vectors(found, examples, using)
        average_vector([vectors[i] for i in pos], [vectors[i] for i in neg])  # refuse a zero one
        query = models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=list(pos),
                negative=list(neg) or None,
                strategy=models.RecommendStrategy.AVERAGE_VECTOR,
            )
        )

        def fetch(n: int) -> list[Hit]:
            with self._filtering(name, filter):
                return server_hits(
                    self.client.query_points(
                        spec.name,
                        query=query,
                        using=using,
                        query_filter=query_filter,
                        limit=n,
                        score_threshold=score_threshold,
                        with_payload=True,
                        with_vectors=False,
                        search_params=search_params(spec.index),
                    ).points
                )

        return rank_page(fetch, limit, offset)

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
        query_filter = server_filter(filter)
        spec = self._spec(name)
        query = check_vector(vector, spec.dim, "query vector")

        def fetch(count: int, size: int) -> dict[Any, list[Hit]]:
            with self._filtering(name, filter):
                found = self.client.query_points_groups(
                    spec.name,
                    group_by=group_by,
                    query=query,
                    using=using,
                    query_filter=query_filter,
                    limit=count,
                    group_size=size,
                    score_threshold=score_threshold,
                    with_payload=True,
                    with_vectors=False,
                    search_params=search_params(spec.index),
                ).groups
            return {g.id: server_hits(g.hits) for g in found}

        return rank_groups(fetch, limit, group_size)

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
        query_filter = server_filter(filter)
        spec = self._spec(name)
        queries = [check_vector(v, spec.dim, f"query vector {i}") for i, v in enumerate(vectors)]

        def request(query: list[float], n: int) -> models.QueryRequest:
            return models.QueryRequest(
                query=query,
                using=using,
                filter=query_filter,
                limit=n,
                score_threshold=score_threshold,
                with_payload=True,
                with_vector=False,
                params=search_params(spec.index),
            )

        def fetch(requests: list[models.QueryRequest]) -> list[list[Hit]]:
            with self._filtering(name, filter):
                answers = self.client.query_batch_points(spec.name, requests=requests)
            return [server_hits(a.points) for a in answers]

        def fetch_all(n: int) -> list[list[Hit]]:
            return fetch([request(q, n) for q in queries])

        def fetch_one(i: int, n: int) -> list[Hit]:
            return fetch([request(queries[i], n)])[0]

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
        scroll_filter = server_filter(filter)
        spec = self._spec(name)
        with self._filtering(name, filter):
            records, _ = self.client.scroll(
                spec.name,
                scroll_filter=scroll_filter,
                limit=scroll_fetch(limit, after),
                offset=after,
                with_payload=True,
                with_vectors=with_vectors,
            )  # offset is inclusive: `after` itself comes back when it still exists
        points = [
            read_point(str(r.id), r.vector if with_vectors else None, r.payload) for r in records
        ]
        return scroll_page(points, limit, after)

    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set (overwrite) the given top-level payload keys on points; unknown ids are ignored."""
        check_payload(payload)
        wanted = list(dict.fromkeys(canonical_id(i) for i in ids))
        spec = self._spec(name)
        if wanted and payload:
            with self._errors(name):  # by filter: by id the server answers 404 for unknown ids
                self.client.set_payload(spec.name, payload=payload, points=_only(wanted), wait=True)

    def delete_by_filter(self, name: str, filter: FilterJSON) -> int:
        """Delete the points matching `filter`; return how many were deleted."""
        selector_filter = server_filter(filter)
        if selector_filter is None:
            raise BadFilter("delete_by_filter needs a filter ({} matches every point)")
        spec = self._spec(name)
        with self._filtering(name, filter):
            # count, then delete: a server has no "delete and count"; a write between the
            # two makes the count approximate
            count = self.client.count(spec.name, count_filter=selector_filter, exact=True).count
            if count:
                selector = models.FilterSelector(filter=selector_filter)
                self.client.delete(spec.name, points_selector=selector, wait=True)
        return count

    def _filtering(self, name: str, filter: FilterJSON | None) -> AbstractContextManager[None]:
        """_errors, reporting a rejected request as BadFilter when it had a filter."""
        return self._errors(name, BadFilter if filter else InvalidRequest)
