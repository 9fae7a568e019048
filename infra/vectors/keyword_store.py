"""The keyword half of the VectorStore contract: BM25 search, and giving a collection its
keyword vector after the fact (a backfill), the same on both engines.

A collection created with a KeywordConfig has the sparse vector from the start: every point
written gets it (keywords). One created without it gets it with `enable_keyword`, which adds the
empty vector and records the config as not ready; `fill_keyword` then writes the vectors of the
points that lack one, a page at a time, and `finish_keyword` marks it ready once none lacks it.
Keyword searches are refused until then, since they would miss the points not yet filled.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

from mmsearch.infra.errors import Conflict, InvalidRequest
from mmsearch.infra.vectors.arguments import Page, unique_ids
from mmsearch.infra.vectors.keywords import (
    Sparse,
    check_keyword,
    document_vector,
    query_vector,
)
from mmsearch.infra.vectors.types import (
    KEYWORD_VECTOR,
    CollectionSpec,
    FilterJSON,
    Hit,
    KeywordConfig,
    VectorPoint,
)

# Points that lack the keyword vector (a backfill fills them in).
MISSING_KEYWORD: FilterJSON = {"must_not": [{"has_vector": KEYWORD_VECTOR}]}


class KeywordSearches(ABC):
    """Keyword search and backfill over the engine hooks below (see VectorStore)."""

    @abstractmethod
    def spec(self, name: str) -> CollectionSpec:
        """The spec alone; raises CollectionNotFound."""

    @abstractmethod
    def retrieve(
        self, name: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[VectorPoint]:
        """Points by id (missing ids are skipped), in the order asked."""

    @abstractmethod
    def count(self, name: str, filter: FilterJSON | None = None) -> int:
        """Exact number of points, optionally matching a filter."""

    @abstractmethod
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

    def search_keyword(
        self,
        name: str,
        text: str,
        *,
        filter: FilterJSON | None = None,
        limit: int = 10,
        offset: int = 0,
        idf_corpus: FilterJSON | None = None,
    ) -> list[Hit]:
        """Points by the BM25 score of `text` against their keyword text, best first, ties by
        id; points sharing no term with it are left out. `idf_corpus`: the points (a filter)
        term statistics are counted over, rather than the whole collection (a tenant's own,
        so that scores say nothing of other tenants' words). Raises InvalidRequest
        (`no_keyword_index`) for a collection without a keyword vector, and Conflict
        (`keyword_index_building`) while its backfill runs."""
        page = Page(filter, limit, offset, idf_corpus=idf_corpus)
        query = query_vector(self.keyword_config(name), text)
        return self._search_sparse(name, query, page)

    def keyword_config(self, name: str) -> KeywordConfig:
        """The collection's keyword config, if its keyword vector can be searched; else the
        errors of search_keyword."""
        spec = self.spec(name)
        if spec.keyword is None or not spec.keyword.ready:
            spec = self._fresh_spec(name)  # another process may have added it or filled it
        if spec.keyword is None:
            raise InvalidRequest(
                f"collection {name!r} has no keyword index", code="no_keyword_index"
            )
        if not spec.keyword.ready:
            raise Conflict(
                f"the keyword index of {name!r} is still being filled in",
                code="keyword_index_building",
            )
        return spec.keyword

    def enable_keyword(self, name: str, config: KeywordConfig) -> CollectionSpec:
        """Give the collection a keyword vector with `config`, not ready until filled; one that
        has a keyword vector with the same settings keeps it as it is, one with others is a
        Conflict (`keyword_index_exists`: its vectors were made with them). The spec after."""
        check_keyword(config)
        spec = self._fresh_spec(name)
        if spec.keyword is None:
            self._set_keyword(spec.name, replace(config, ready=False))
            return self._fresh_spec(name)
        if replace(spec.keyword, ready=True) != replace(config, ready=True):
            held = spec.keyword
            raise Conflict(
                f"collection {name!r} has a keyword index with other settings "
                f"(language {held.language!r}, avg_len {held.avg_len:g}, fields "
                f"{list(held.fields)}); re-embed the collection to change them",
                code="keyword_index_exists",
            )
        return spec

    def fill_keyword(
        self, name: str, after: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        """Write the keyword vectors of up to `limit` points after id `after` that lack one;
        return their ids, and the cursor to go on from (None at the end)."""
        config = self._fresh_spec(name).keyword
        if config is None:
            raise InvalidRequest(f"collection {name!r} has no keyword index to fill")
        points, cursor = self.scroll(name, limit=limit, after=after, filter=MISSING_KEYWORD)
        if points:
            self._set_keywords(name, {p.id: document_vector(config, p.payload) for p in points})
        return [p.id for p in points], cursor

    def finish_keyword(self, name: str) -> bool:
        """Mark the keyword vector ready if no point lacks it; False if some still do."""
        spec = self._fresh_spec(name)
        if spec.keyword is None or self.count(name, MISSING_KEYWORD):
            return False
        if not spec.keyword.ready:
            self._set_keyword(spec.name, replace(spec.keyword, ready=True))
        return True

    def _refresh_keywords(self, name: str, spec: CollectionSpec, ids: Sequence[str]) -> None:
        """Write again the keyword vectors of these points, from their payloads now."""
        if spec.keyword is None:
            return
        points = self.retrieve(name, unique_ids(ids))
        if points:
            config = spec.keyword
            self._set_keywords(name, {p.id: document_vector(config, p.payload) for p in points})

    def _fresh_spec(self, name: str) -> CollectionSpec:
        """The spec as stored now (an engine that caches specs reads it again)."""
        return self.spec(name)

    @abstractmethod
    def _search_sparse(self, name: str, query: Sparse, page: Page) -> list[Hit]:
        """search_keyword(): the page by score of the keyword vector, then id."""

    @abstractmethod
    def _set_keyword(self, name: str, config: KeywordConfig) -> None:
        """Add the keyword vector to collection `name` if it has none, and store `config` in
        its spec."""

    @abstractmethod
    def _set_keywords(self, name: str, vectors: dict[str, Sparse]) -> None:
        """Set the keyword vectors of existing points (ids that are gone are skipped)."""
