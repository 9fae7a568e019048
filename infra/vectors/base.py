"""The vector store contract: one interface, a Qdrant-server and an embedded implementation."""

from __future__ import annotations

import math
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from infra.errors import InvalidRequest

IMAGE_VECTOR = "image"
TEXT_VECTOR = "text"
VECTOR_NAMES = (IMAGE_VECTOR, TEXT_VECTOR)
COLLECTION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# A validated Qdrant filter as JSON (must/should/must_not, match/range...), keys are payload paths.
FilterJSON = dict[str, Any]


class FieldType(StrEnum):
    """Payload field types a collection may declare for indexing and filtering."""

    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    BOOL = "bool"
    DATETIME = "datetime"
    TEXT = "text"


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection is: its vectors' size and model, and its indexed payload fields.

    `payload_schema` keys are full payload paths (e.g. ``metadata.album``).
    """

    name: str
    dim: int
    model: str
    payload_schema: dict[str, FieldType] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectionInfo:
    spec: CollectionSpec
    count: int


@dataclass
class VectorPoint:
    """A point to write: uuid string id, named vectors (float32, L2-normalised), payload."""

    id: str
    vectors: dict[str, np.ndarray]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class HitGroup:
    """The best hits sharing one value (`key`, a string or an integer) of a payload field."""

    key: Any
    hits: list[Hit]


class VectorStore(ABC):
    """Collections of named cosine vectors ("image", "text") with JSON payloads.

    Every method that takes a collection name also takes an alias of one (see set_alias);
    aliases and collections share one namespace.
    """

    @abstractmethod
    def create_collection(self, spec: CollectionSpec) -> None:
        """Create; raises CollectionExists."""

    @abstractmethod
    def get_collection(self, name: str) -> CollectionInfo:
        """Spec plus point count; raises CollectionNotFound."""

    @abstractmethod
    def list_collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name."""

    @abstractmethod
    def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; raises CollectionNotFound."""

    @abstractmethod
    def upsert(self, name: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite points by id; durable on return."""

    @abstractmethod
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
        """Reciprocal rank fusion of the top `prefetch_limit` on each named vector (k=2).

        Hit.score is the RRF score, sum of 1/(2 + rank) over the rankings a point is in (rank
        from 0); a point lacking a vector is not in that ranking. `prefetch_limit` defaults to
        max(limit + offset, 100). Order: score desc (compared to 1e-6), then id. Points with
        equal scores within one ranking take their ranks in the engine's order.
        """

    @abstractmethod
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
        """Points nearest to 2·mean(positive) − mean(negative) (average_vector), examples excluded.

        Without negatives the target is mean(positive). Raises InvalidRequest without positives
        and ItemNotFound (details: ``{"missing": [ids]}``) for examples that do not exist or
        lack the `using` vector. Hit.score is the cosine to the target.
        """

    @abstractmethod
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

    @abstractmethod
    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set (overwrite) the given top-level payload keys on points; unknown ids are ignored."""

    @abstractmethod
    def delete_by_filter(self, name: str, filter: FilterJSON) -> int:
        """Delete the points matching `filter`; return how many were deleted."""

    @abstractmethod
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
        """Up to `limit` points in ascending id order with id > `after`, and the next cursor.

        The cursor is the last id of the page (pass it as `after`), or None after the last page.
        """

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


# Helpers shared by the implementations, so both validate and rank the same way.


def check_collection_name(name: str) -> str:
    """Return `name` if it is a valid collection name (also a safe folder name), else raise."""
    if not isinstance(name, str) or not COLLECTION_NAME_RE.match(name):
        raise InvalidRequest(
            "collection name must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
            details={"name": str(name)[:100]},
        )
    return name


def canonical_id(point_id: str) -> str:
    """The canonical (lowercase, hyphenated) form of a uuid point id; raise if not a uuid."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        details = {"id": str(point_id)[:100]}
        raise InvalidRequest("point ids must be uuid strings", details=details) from None


def check_vector(vector: np.ndarray, dim: int, what: str = "vector") -> list[float]:
    """A finite vector of length `dim` as a list of floats; raise InvalidRequest otherwise."""
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    if arr.shape[0] != dim or not np.isfinite(arr).all() or not arr.any():
        raise InvalidRequest(f"{what} must be {dim} finite numbers, not all zero")
    return list(arr.tolist())


def check_vector_name(name: str) -> str:
    """Return `name` if it is one of VECTOR_NAMES, else raise InvalidRequest."""
    if name not in VECTOR_NAMES:
        raise InvalidRequest(f"unknown vector {name!r}; expected one of {list(VECTOR_NAMES)}")
    return name


def check_point(point: VectorPoint, dim: int) -> tuple[str, dict[str, list[float]]]:
    """A point's canonical id and its validated named vectors (at least one); raise if invalid."""
    if not point.vectors:
        raise InvalidRequest("a point needs at least one vector", details={"id": point.id})
    if not isinstance(point.payload, dict):
        raise InvalidRequest("a point's payload must be an object", details={"id": point.id})
    vectors = {
        check_vector_name(name): check_vector(vec, dim, f"vector {name!r}")
        for name, vec in point.vectors.items()
    }
    return canonical_id(point.id), vectors


def read_point(point_id: str, vectors: Any, payload: dict[str, Any] | None) -> VectorPoint:
    """A VectorPoint from an engine's record (vectors: name → list, or None when not asked)."""
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in (vectors or {}).items()}
    return VectorPoint(id=point_id, vectors=arrays, payload=dict(payload or {}))


def check_page(limit: int, offset: int, score_threshold: float | None) -> None:
    """Raise InvalidRequest for a negative page or a non-finite threshold."""
    if limit < 0 or offset < 0:
        raise InvalidRequest("limit and offset must not be negative")
    if score_threshold is not None and not math.isfinite(score_threshold):
        raise InvalidRequest("score_threshold must be a finite number")


def rank_key(digits: int | None = None) -> Callable[[Hit], tuple[float, str]]:
    """Sort key: score desc (rounded to `digits` decimals if given), then id."""
    if digits is None:
        return lambda h: (-h.score, h.id)
    return lambda h: (-round(h.score, digits), h.id)


def rank_page(
    fetch: Callable[[int], list[Hit]], limit: int, offset: int, digits: int | None = None
) -> list[Hit]:
    """Hits [offset, offset+limit) by score desc then id, from `fetch(n)` = the engine's top n.

    Engines order equal scores arbitrarily, so when a tie straddles the end of the page more
    hits are fetched until the tie is complete. `digits`: compare scores rounded to that many
    decimals (for scores two engines compute with different float precision).
    """
    want = offset + limit
    if limit == 0:
        return []
    key = rank_key(digits)
    n = want + 1
    while True:
        hits = sorted(fetch(n), key=key)
        if len(hits) < n or key(hits[-1])[0] != key(hits[want - 1])[0]:
            return hits[offset:want]
        n *= 2


def spec_to_json(spec: CollectionSpec) -> dict[str, Any]:
    """A collection spec as plain JSON (stored next to, or inside, the collection)."""
    return {
        "name": spec.name,
        "dim": spec.dim,
        "model": spec.model,
        "payload_schema": {key: str(kind) for key, kind in spec.payload_schema.items()},
        "extra": spec.extra,
    }


def spec_from_json(data: dict[str, Any]) -> CollectionSpec:
    """The inverse of spec_to_json."""
    return CollectionSpec(
        name=str(data["name"]),
        dim=int(data["dim"]),
        model=str(data["model"]),
        payload_schema={k: FieldType(v) for k, v in (data.get("payload_schema") or {}).items()},
        extra=dict(data.get("extra") or {}),
    )


def check_spec(spec: CollectionSpec) -> CollectionSpec:
    """Validate a spec to create (name, dim, field types); raise InvalidRequest."""
    check_collection_name(spec.name)
    if not isinstance(spec.dim, int) or not 1 <= spec.dim <= 65536:
        raise InvalidRequest("dim must be an integer between 1 and 65536")
    for key, kind in spec.payload_schema.items():
        if not key or not isinstance(key, str):
            raise InvalidRequest("payload_schema keys must be non-empty payload paths")
        try:
            FieldType(kind)
        except ValueError:
            raise InvalidRequest(f"unknown field type {kind!r} for {key!r}") from None
    return spec
