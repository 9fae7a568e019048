"""How both engines order, fuse and group hits, and recommend's target: the maths they share.

Engines order equal scores as they like, so each ranking here asks the engine for more hits
until the page no longer ends inside a tie, and then orders by score desc and id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from mmsearch.infra.errors import InvalidRequest, ItemNotFound
from mmsearch.infra.vectors.arguments import payload_path
from mmsearch.infra.vectors.types import Hit, HitGroup, VectorPoint

RRF_K = 2  # Qdrant's default constant: a point ranked r (from 0) adds 1 / (RRF_K + r)
RRF_DIGITS = 6  # RRF scores are f32 sums on one engine, f64 on another: compare to 1e-6
GroupKey = str | int


def rank_key(digits: int | None = None) -> Callable[[Hit], tuple[float, str]]:
    """Sort key: score desc (rounded to `digits` decimals if given), then id."""
    if digits is None:
        return lambda h: (-h.score, h.id)
    return lambda h: (-round(h.score, digits), h.id)


def rank_page(
    fetch: Callable[[int], list[Hit]], limit: int, offset: int, digits: int | None = None
) -> list[Hit]:
    """Hits [offset, offset+limit) by score desc then id, from `fetch(n)` = the engine's top n.

    When a tie straddles the end of the page more hits are fetched until the tie is complete.
    `digits`: compare scores rounded to that many decimals (for scores two engines compute with
    different float precision).
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


def rank_fused(fetch: Callable[[int], list[Hit]], limit: int, offset: int) -> list[Hit]:
    """A page of RRF hits: score desc (to RRF_DIGITS decimals) then id."""
    return rank_page(fetch, limit, offset, RRF_DIGITS)


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


def example_target(
    found: Sequence[VectorPoint], positive: Sequence[str], negative: Sequence[str], using: str
) -> list[float]:
    """Qdrant's average_vector target of the examples `found` (their `using` vectors).

    2·mean(positive) − mean(negative), or mean(positive) without negatives. Raises ItemNotFound
    naming the examples missing or without that vector, InvalidRequest if they cancel out.
    """
    vectors = {p.id: p.vectors[using] for p in found if using in p.vectors}
    missing = [i for i in dict.fromkeys([*positive, *negative]) if i not in vectors]
    if missing:
        raise ItemNotFound(
            f"{len(missing)} example point(s) not found or without a {using!r} vector",
            details={"missing": missing, "using": using},
        )
    target = np.mean(np.stack([vectors[i] for i in positive]).astype(np.float64), axis=0)
    if negative:
        mean_negative = np.mean(np.stack([vectors[i] for i in negative]).astype(np.float64), axis=0)
        target = target + target - mean_negative
    if not np.isfinite(target).all() or not np.linalg.norm(target) > 1e-12:
        raise InvalidRequest("the examples cancel out: their average vector is zero")
    return [float(x) for x in target]


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

    walk(payload, payload_path(group_by) or [])
    if not values or any(type(v) not in (str, int) for v in values):
        return None
    return list(dict.fromkeys(values))


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
