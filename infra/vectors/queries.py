"""Engine-neutral parts of the query methods: validation, ranking, grouping and paging rules.

Both stores use these, so they check arguments and order results the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from mmsearch.infra.errors import InvalidRequest, ItemNotFound
from mmsearch.infra.vectors.base import Hit, HitGroup, VectorPoint
from mmsearch.infra.vectors.checks import (
    canonical_id,
    check_page,
    check_vector,
    check_vector_name,
    rank_key,
    rank_page,
)

RRF_K = 2  # Qdrant's default constant: a point ranked r (from 0) adds 1 / (RRF_K + r)
RRF_DIGITS = 6  # RRF scores are f32 sums on one engine, f64 on another: compare to 1e-6
MIN_PREFETCH = 100
MAX_SCROLL = 10_000
GroupKey = str | int
_PATH_ITEM = re.compile(r"^([^.\[\]]+)(?:\[(\d*)\])?$")


def check_hybrid(
    vectors: dict[str, np.ndarray],
    dim: int,
    limit: int,
    offset: int,
    prefetch_limit: int | None,
) -> tuple[dict[str, list[float]], int]:
    """The validated query vectors by name and the prefetch limit to use; raise InvalidRequest.

    The prefetch limit defaults to max(limit + offset, MIN_PREFETCH): each ranking is cut there
    before fusion, so it also decides which ranks count (a larger one changes RRF scores).
    """
    check_page(limit, offset, None)
    if not isinstance(vectors, dict) or not vectors:
        raise InvalidRequest("a hybrid search needs at least one named query vector")
    if prefetch_limit is None:
        prefetch_limit = max(limit + offset, MIN_PREFETCH)
    if not isinstance(prefetch_limit, int) or prefetch_limit < 1:
        raise InvalidRequest("prefetch_limit must be a positive integer")
    checked = {
        check_vector_name(using): check_vector(vec, dim, f"query vector {using!r}")
        for using, vec in vectors.items()
    }
    return checked, prefetch_limit


def rank_fused(fetch: Callable[[int], list[Hit]], limit: int, offset: int) -> list[Hit]:
    """A page of RRF hits: score desc (to RRF_DIGITS decimals) then id."""
    return rank_page(fetch, limit, offset, RRF_DIGITS)


def check_examples(positive: Sequence[str], negative: Sequence[str]) -> tuple[list[str], list[str]]:
    """Canonical positive and negative example ids; raise InvalidRequest without positives."""
    if isinstance(positive, str) or isinstance(negative, str):
        raise InvalidRequest("positive and negative must be lists of ids")
    pos = list(dict.fromkeys(canonical_id(i) for i in positive))
    neg = list(dict.fromkeys(canonical_id(i) for i in negative))
    if not pos:
        raise InvalidRequest("recommend needs at least one positive example")
    return pos, neg


def example_vectors(
    found: Sequence[VectorPoint], wanted: Sequence[str], using: str
) -> dict[str, np.ndarray]:
    """Each example's `using` vector by id; raise ItemNotFound naming those missing."""
    vectors = {p.id: p.vectors[using] for p in found if using in p.vectors}
    missing = [i for i in wanted if i not in vectors]
    if missing:
        raise ItemNotFound(
            f"{len(missing)} example point(s) not found or without a {using!r} vector",
            details={"missing": missing, "using": using},
        )
    return vectors


def average_vector(positive: Sequence[np.ndarray], negative: Sequence[np.ndarray]) -> list[float]:
    """Qdrant's average_vector target: 2·mean(positive) − mean(negative), or mean(positive)."""
    target = np.mean(np.stack(positive).astype(np.float64), axis=0)
    if negative:
        target = target + target - np.mean(np.stack(negative).astype(np.float64), axis=0)
    if not np.isfinite(target).all() or not np.linalg.norm(target) > 1e-12:
        raise InvalidRequest("the examples cancel out: their average vector is zero")
    return [float(x) for x in target]


def check_groups(group_by: str, group_size: int, limit: int, score_threshold: float | None) -> None:
    """Raise InvalidRequest for a bad group path, group size or limit."""
    check_page(limit, 0, score_threshold)
    if not isinstance(group_by, str) or not group_by or _path(group_by) is None:
        raise InvalidRequest("group_by must be a payload path such as 'metadata.album'")
    if not isinstance(group_size, int) or group_size < 1 or limit < 1:
        raise InvalidRequest("group_size and limit must be at least 1")


def group_keys(payload: dict[str, Any], group_by: str) -> list[GroupKey] | None:
    """The group keys of a payload (deduplicated), or None if the point joins no group.

    Like Qdrant: a selected array gives one key per element, and a point is left out when any
    selected value is not a string or an integer (booleans included).
    """
    values: list[Any] = []

    def walk(data: Any, items: list[tuple[str, str | None]]) -> None:
        if not items:
            values.extend(data if isinstance(data, list) else [data])
            return
        (key, index), rest = items[0], items[1:]
        if not isinstance(data, dict) or key not in data:
            return
        data = data[key]
        if index is None:
            walk(data, rest)
        elif isinstance(data, list) and index == "":
            for item in data:
                walk(item, rest)
        elif isinstance(data, list) and index and int(index) < len(data):
            walk(data[int(index)], rest)

    walk(payload, _path(group_by) or [])
    if not values or any(type(v) not in (str, int) for v in values):
        return None
    return list(dict.fromkeys(values))


def _path(group_by: str) -> list[tuple[str, str | None]] | None:
    """`a.b[].c[0]` → [("a", None), ("b", ""), ("c", "0")]; None if it is not such a path."""
    items = []
    for part in group_by.split("."):
        match = _PATH_ITEM.match(part)
        if match is None:
            return None
        items.append((match.group(1), match.group(2)))
    return items


def finish_groups(groups: dict[GroupKey, list[Hit]], limit: int, group_size: int) -> list[HitGroup]:
    """Groups ordered by best hit (then key), hits by score desc then id; limit × group_size."""
    key = rank_key()
    ranked = [HitGroup(k, sorted(hits, key=key)[:group_size]) for k, hits in groups.items() if hits]
    ranked.sort(key=lambda g: (*key(g.hits[0]), _key_order(g.key)))
    return ranked[:limit]


def rank_groups(
    fetch: Callable[[int, int], dict[GroupKey, list[Hit]]], limit: int, group_size: int
) -> list[HitGroup]:
    """finish_groups over `fetch(groups, size)` = the engine's best groups of its best hits.

    Engines break ties arbitrarily, so more groups (or hits per group) are fetched while the
    last group (or hit) fetched ties with the last one kept.
    """
    count, size = limit + 1, group_size + 1
    while True:
        found = fetch(count, size)
        ranked = finish_groups(found, count, size)
        kept = ranked[:limit]
        tie_groups = len(ranked) == count and ranked[-1].hits[0].score == kept[-1].hits[0].score
        tie_hits = any(
            len(g.hits) == size and g.hits[-1].score == g.hits[group_size - 1].score for g in kept
        )
        if not tie_groups and not tie_hits:
            return finish_groups(found, limit, group_size)
        count, size = count * (2 if tie_groups else 1), size * (2 if tie_hits else 1)


def _key_order(key: GroupKey) -> tuple[int, int, str]:
    """Integers before strings, each in their natural order."""
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def check_scroll(limit: int, after: str | None) -> str | None:
    """The canonical `after` cursor; raise InvalidRequest for a bad limit or cursor."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_SCROLL:
        raise InvalidRequest(f"scroll limit must be between 1 and {MAX_SCROLL}")
    return None if after is None else canonical_id(after)


def scroll_fetch(limit: int, after: str | None) -> int:
    """How many points to read from `after` (inclusive, the engines' offset) for one page."""
    return limit + (2 if after is not None else 1)


def scroll_page(
    points: list[VectorPoint], limit: int, after: str | None
) -> tuple[list[VectorPoint], str | None]:
    """The page after `after` from points read from it inclusively, and the next cursor."""
    points = [p for p in points if p.id != after]
    if len(points) > limit:
        page = points[:limit]
        return page, page[-1].id
    return points, None


def rank_batch(
    fetch_all: Callable[[int], list[list[Hit]]],
    fetch_one: Callable[[int, int], list[Hit]],
    count: int,
    limit: int,
) -> list[list[Hit]]:
    """Top `limit` for each of `count` queries by score desc then id, from one batch call.

    `fetch_all(n)`: every query's top n in one engine call; `fetch_one(i, n)`: query i's top n.
    A query whose page ends inside a tie is completed on its own, as in rank_page.
    """
    if count == 0 or limit == 0:
        return [[] for _ in range(count)]
    key = rank_key()
    results = []
    for i, found in enumerate(fetch_all(limit + 1)):
        hits = sorted(found, key=key)
        if len(hits) > limit and hits[-1].score == hits[limit - 1].score:
            hits = rank_page(partial(fetch_one, i), limit, 0)
        results.append(hits[:limit])
    return results


def check_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Return `payload` if it is an object with string keys, else raise InvalidRequest."""
    if not isinstance(payload, dict) or not all(isinstance(k, str) and k for k in payload):
        raise InvalidRequest("a payload must be an object with non-empty string keys")
    return payload
