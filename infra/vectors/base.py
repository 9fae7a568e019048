"""The vector store contract: one interface for the embedded engine (edge/) and the Qdrant
server (qdrant/); its searches check their arguments here, once for both. Data types: types.py."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from mmsearch.infra.errors import CollectionNotFound
from mmsearch.infra.vectors.arguments import (
    Page,
    check_examples,
    check_groups,
    check_scroll,
    check_vector_name,
)
from mmsearch.infra.vectors.hybrid import HybridSearches
from mmsearch.infra.vectors.types import (
    IMAGE_VECTOR,
    CollectionInfo,
    CollectionSpec,
    FilterJSON,
    Hit,
    HitGroup,
    VectorPoint,
)

_T = TypeVar("_T")


class VectorStore(HybridSearches):
    """Collections of named cosine vectors ("image", "text") with JSON payloads, and a sparse
    BM25 vector ("keyword") where the spec has a KeywordConfig (see keyword_store).

    Every method that takes a collection name also takes an alias of one (see set_alias);
    aliases and collections share one namespace. The searches and scroll check their arguments
    here, then call the engine's hook of the same name with a leading underscore.
    """

    @abstractmethod
    def create_collection(self, spec: CollectionSpec) -> None:
        """Create; raises CollectionExists."""

    @abstractmethod
    def get_collection(self, name: str) -> CollectionInfo:
        """Spec plus point count; raises CollectionNotFound."""

    @abstractmethod
    def spec(self, name: str) -> CollectionSpec:
        """The spec alone (no count: cheap enough for every query); raises CollectionNotFound."""

    def list_collections(self) -> list[CollectionInfo]:
        """All collections with their counts, sorted by name."""
        return self._each_collection(self.get_collection)

    def list_specs(self) -> list[CollectionSpec]:
        """Every collection's spec, sorted by name (no counts: cheap)."""
        return self._each_collection(self.spec)

    def _each_collection(self, read: Callable[[str], _T]) -> list[_T]:
        found = []
        for name in self._collection_names():
            try:
                found.append(read(name))
            except (
                CollectionNotFound
            ):  # deleted meanwhile, or (on a server) not a collection of ours
                continue
        return found

    @abstractmethod
    def _collection_names(self) -> list[str]:
        """The names of the collections (not aliases), sorted."""

    @abstractmethod
    def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; raises CollectionNotFound."""

    @abstractmethod
    def upsert(self, name: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite points by id; durable on return."""

    @abstractmethod
    def count(self, name: str, filter: FilterJSON | None = None) -> int:
        """Exact number of points, optionally matching a filter."""

    @abstractmethod
    def retrieve(
        self, name: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[VectorPoint]:
        """Points by id (missing ids are skipped), in the order asked."""

    @abstractmethod
    def delete_points(self, name: str, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""

    @abstractmethod
    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set (overwrite) the given top-level payload keys on points; unknown ids are ignored."""

    @abstractmethod
    def delete_by_filter(self, name: str, filter: FilterJSON) -> int:
        """Delete the points matching `filter`; return how many were deleted."""

    @abstractmethod
    def set_alias(self, alias: str, collection: str) -> None:
        """Create `alias`, or atomically re-point it; Conflict if a collection has that name."""

    @abstractmethod
    def delete_alias(self, alias: str) -> None:
        """Remove an alias; raises CollectionNotFound if there is none by that name."""

    @abstractmethod
    def list_aliases(self) -> dict[str, str]:
        """Every alias and the collection it points at, sorted by alias."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""

    # -- searches and scroll: arguments checked here, the rest in the engine's hooks -----------

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
        return self._search(name, vector, using, Page(filter, limit, offset, score_threshold))

    def recommend(
        self,
        name: str,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        *,
        using: str = IMAGE_VECTOR,
        filter: FilterJSON | None = None,
        score_threshold: float | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Hit]:
        """Points nearest to 2·mean(positive) − mean(negative) (average_vector), examples excluded.

        Without negatives the target is mean(positive). Raises InvalidRequest without positives
        and ItemNotFound (details: ``{"missing": [ids]}``) for examples that do not exist or
        lack the `using` vector. Hit.score is the cosine to the target.
        """
        check_vector_name(using)
        page = Page(filter, limit, offset, score_threshold)
        pos, neg = check_examples(positive, negative)
        return self._recommend(name, pos, neg, using, page)

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
        """Up to `limit` groups by the string/integer values at payload path `group_by`.

        A point with an array there joins one group per value; points without the field (or
        with other value types) are left out. Groups are ordered by their best hit (score desc,
        id, then key), hits within a group by score desc then id, at most `group_size` each.
        """
        check_vector_name(using)
        page = Page(filter, limit, 0, score_threshold)
        check_groups(group_by, group_size, limit)
        return self._search_groups(name, vector, using, page, group_by, group_size)

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
        return self._search_batch(name, vectors, using, Page(filter, limit, 0, score_threshold))

    def scroll(
        self,
        name: str,
        *,
        limit: int = 256,
        after: str | None = None,
        filter: FilterJSON | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[VectorPoint], str | None]:
        """Up to `limit` points in ascending id order with id > `after`, and the next cursor.

        The cursor is the last id of the page (pass it as `after`), or None after the last page.
        """
        after = check_scroll(limit, after)
        # the engines read from `after` inclusively (it comes back while it still exists), and
        # one point past the page tells whether another page follows
        count = limit + (2 if after is not None else 1)
        points = [
            p for p in self._scroll(name, after, count, filter, with_vectors) if p.id != after
        ]
        if len(points) > limit:
            return points[:limit], points[limit - 1].id
        return points, None

    @abstractmethod
    def _search(self, name: str, vector: np.ndarray, using: str, page: Page) -> list[Hit]:
        """search(): the vector's length is the engine's to check, against the collection."""

    @abstractmethod
    def _recommend(
        self, name: str, positive: list[str], negative: list[str], using: str, page: Page
    ) -> list[Hit]:
        """recommend() with canonical, deduplicated example ids."""

    @abstractmethod
    def _search_groups(
        self, name: str, vector: np.ndarray, using: str, page: Page, group_by: str, size: int
    ) -> list[HitGroup]:
        """search_groups(): `page.limit` groups of at most `size` hits."""

    @abstractmethod
    def _search_batch(
        self, name: str, vectors: Sequence[np.ndarray], using: str, page: Page
    ) -> list[list[Hit]]:
        """search_batch(): the vectors' lengths are the engine's to check."""

    @abstractmethod
    def _scroll(
        self, name: str, start: str | None, count: int, filter: FilterJSON | None, vectors: bool
    ) -> list[VectorPoint]:
        """Up to `count` points in ascending id order from id `start` (inclusive) on."""
