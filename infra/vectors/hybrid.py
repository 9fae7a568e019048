"""Hybrid search, part of the VectorStore contract: several rankings of one query (nearest on
each named dense vector, BM25 on the keyword vector) fused by weighted reciprocal rank fusion,
the same on both engines (the fusion is ranking.fuse, over the engines' own searches)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from mmsearch.infra.vectors.arguments import (
    Page,
    check_prefetch,
    check_vector_name,
    check_weights,
)
from mmsearch.infra.vectors.keyword_store import KeywordSearches
from mmsearch.infra.vectors.keywords import Sparse, query_vector
from mmsearch.infra.vectors.ranking import fuse
from mmsearch.infra.vectors.types import KEYWORD_VECTOR, FilterJSON, Hit


class HybridSearches(KeywordSearches):
    """search_hybrid over the engine hooks `_search` and `_search_sparse`."""

    def search_hybrid(
        self,
        name: str,
        vectors: dict[str, np.ndarray],
        *,
        keyword: str | None = None,
        weights: Mapping[str, float] | None = None,
        filter: FilterJSON | None = None,
        limit: int = 10,
        offset: int = 0,
        prefetch_limit: int | None = None,
        idf_corpus: FilterJSON | None = None,
    ) -> list[Hit]:
        """Reciprocal rank fusion (k=2) of the top `prefetch_limit` on each named vector, and
        by BM25 on the keyword vector when `keyword` text is given (see search_keyword, and
        its `idf_corpus`).

        Each ranking is cut at `prefetch_limit` (default max(limit + offset, 1000)); a point
        lacking a vector is not in that ranking. Hit.score is Qdrant's weighted RRF: the sum of
        1 / ((rank + 1) / weight + 1) over the rankings a point is in (rank from 0; hits of
        equal score share the mean of their ranks), which is 1 / (2 + rank) at weight 1, the
        default for every ranking (`weights` by vector name or "keyword"; 0 leaves a ranking
        out). Order: fused score desc, then id.
        """
        page = Page(filter, limit, offset)
        depth = check_prefetch(vectors, limit, offset, prefetch_limit)
        for using in vectors:
            check_vector_name(using)
        queries: dict[str, Any] = dict(vectors)
        if keyword is not None:
            queries[KEYWORD_VECTOR] = query_vector(self.keyword_config(name), keyword)
        chosen = check_weights(weights, list(queries))
        # each ranking's window as the engine cuts it (a tie across its end is not completed:
        # the same query gets the same window), and payloads for the page alone
        window = Page(filter, depth, with_payload=False, ties=False, idf_corpus=idf_corpus)
        rankings = [
            (self._ranking(name, using, query, window), chosen[using])
            for using, query in queries.items()
            if chosen[using] > 0
        ]
        fused = fuse(rankings, page.limit, page.offset)
        stored = {p.id: p.payload for p in self.retrieve(name, [h.id for h in fused])}
        # a point deleted since it was ranked is left out
        return [Hit(h.id, h.score, stored[h.id]) for h in fused if h.id in stored]

    def _ranking(self, name: str, using: str, query: Any, window: Page) -> list[Hit]:
        if isinstance(query, Sparse):
            return self._search_sparse(name, query, window)
        return self._search(name, query, using, window)

    @abstractmethod
    def _search(self, name: str, vector: np.ndarray, using: str, page: Page) -> list[Hit]:
        """search(): the vector's length is the engine's to check, against the collection."""
