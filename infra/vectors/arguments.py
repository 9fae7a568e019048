"""Checks on the arguments of the store's calls, the same for every engine (InvalidRequest).

Point ids, pages and score thresholds, hybrid prefetch depths, recommend examples, group paths,
scroll cursors and payloads. Checks that need the collection (a vector's length) are in checks.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.vectors.types import VECTOR_NAMES

MIN_PREFETCH = 1000  # a hybrid page's fused window: pages to this depth agree with each other
MAX_SCROLL = 10_000
_PATH_ITEM = re.compile(r"^([^.\[\]]+)(?:\[(\d*)\])?$")

# A payload path split into (key, index): index None for `key`, "" for `key[]`, "0" for `key[0]`.
PayloadPath = list[tuple[str, str | None]]


def canonical_id(point_id: str) -> str:
    """The canonical (lowercase, hyphenated) form of a uuid point id; raise if not a uuid."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        details = {"id": str(point_id)[:100]}
        raise InvalidRequest("point ids must be uuid strings", details=details) from None


def unique_ids(ids: Sequence[str]) -> list[str]:
    """Canonical ids, deduplicated, in the order given."""
    return list(dict.fromkeys(canonical_id(i) for i in ids))


def check_vector_name(name: str) -> str:
    """Return `name` if it is one of VECTOR_NAMES, else raise InvalidRequest."""
    if name not in VECTOR_NAMES:
        raise InvalidRequest(f"unknown vector {name!r}; expected one of {list(VECTOR_NAMES)}")
    return name


def check_page(limit: int, offset: int, score_threshold: float | None) -> None:
    """Raise InvalidRequest for a negative page or a non-finite threshold."""
    if limit < 0 or offset < 0:
        raise InvalidRequest("limit and offset must not be negative")
    if score_threshold is not None and not math.isfinite(score_threshold):
        raise InvalidRequest("score_threshold must be a finite number")


@dataclass(frozen=True)
class Page:
    """A query's filter and page, checked: `limit` hits from `offset`, none below the threshold."""

    filter: dict[str, Any] | None  # FilterJSON
    limit: int
    offset: int = 0
    score_threshold: float | None = None
    with_payload: bool = True  # False: hits carry ids and scores alone
    ties: bool = True  # complete a tie at the page's end (see ranking.rank_page)
    idf_corpus: dict[str, Any] | None = None  # keyword IDF over these points alone (a filter)

    def __post_init__(self) -> None:
        check_page(self.limit, self.offset, self.score_threshold)


def check_weights(weights: Mapping[str, float] | None, names: Sequence[str]) -> dict[str, float]:
    """Each ranking's fusion weight (1 unless given); raise InvalidRequest for a weight that is
    negative or not finite, or names no ranking of the query."""
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise InvalidRequest(f"weights name no ranking of this query: {unknown}")
    for key, value in weights.items():
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise InvalidRequest(f"weight {key!r} must be a finite number, 0 or more")
    chosen = {name: float(weights.get(name, 1.0)) for name in names}
    if not any(chosen.values()):
        raise InvalidRequest("at least one ranking needs a weight above 0")
    return chosen


def check_prefetch(
    vectors: Mapping[str, Any], limit: int, offset: int, prefetch_limit: int | None
) -> int:
    """The prefetch limit of a hybrid search over `vectors`; raise InvalidRequest.

    It defaults to max(limit + offset, MIN_PREFETCH): each ranking is cut there before fusion,
    so it also decides which ranks count (a larger one changes RRF scores). One window for
    every page to that depth makes offset pages the slices of one ranking.
    """
    if not isinstance(vectors, dict) or not vectors:
        raise InvalidRequest("a hybrid search needs at least one named query vector")
    if prefetch_limit is None:
        prefetch_limit = max(limit + offset, MIN_PREFETCH)
    if not isinstance(prefetch_limit, int) or prefetch_limit < 1:
        raise InvalidRequest("prefetch_limit must be a positive integer")
    return prefetch_limit


def check_examples(positive: Sequence[str], negative: Sequence[str]) -> tuple[list[str], list[str]]:
    """Canonical positive and negative example ids; raise InvalidRequest without positives."""
    if isinstance(positive, str) or isinstance(negative, str):
        raise InvalidRequest("positive and negative must be lists of ids")
    pos, neg = unique_ids(positive), unique_ids(negative)
    if not pos:
        raise InvalidRequest("recommend needs at least one positive example")
    return pos, neg


def payload_path(group_by: str) -> PayloadPath | None:
    """`a.b[].c[0]` → [("a", None), ("b", ""), ("c", "0")]; None if it is not such a path."""
    items = []
    for part in group_by.split("."):
        match = _PATH_ITEM.match(part)
        if match is None:
            return None
        items.append((match.group(1), match.group(2)))
    return items


def check_groups(group_by: str, group_size: int, limit: int) -> None:
    """Raise InvalidRequest for a bad group path, group size or number of groups."""
    if not isinstance(group_by, str) or not group_by or payload_path(group_by) is None:
        raise InvalidRequest("group_by must be a payload path such as 'metadata.album'")
    if not isinstance(group_size, int) or group_size < 1 or limit < 1:
        raise InvalidRequest("group_size and limit must be at least 1")


def check_scroll(limit: int, after: str | None) -> str | None:
    """The canonical `after` cursor; raise InvalidRequest for a bad limit or cursor."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_SCROLL:
        raise InvalidRequest(f"scroll limit must be between 1 and {MAX_SCROLL}")
    return None if after is None else canonical_id(after)


def check_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Return `payload` if it is an object with string keys, else raise InvalidRequest."""
    if not isinstance(payload, dict) or not all(isinstance(k, str) and k for k in payload):
        raise InvalidRequest("a payload must be an object with non-empty string keys")
    return payload
