"""How both engines order, fuse and group hits, and recommend's target: the maths they share.

Engines order equal scores as they like, so each ranking here asks the engine for more hits
until the page no longer ends inside a tie, and then orders by score desc and id.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from mmsearch.infra.errors import InvalidRequest, ItemNotFound
from mmsearch.infra.vectors.arguments import payload_path
from mmsearch.infra.vectors.types import Hit, HitGroup, VectorPoint

RRF_K = 2  # Qdrant's default constant: a point ranked r (from 0) adds 1 / (RRF_K + r)
GroupKey = str | int


def rank_key(digits: int | None = None) -> Callable[[Hit], tuple[float, str]]:
    """Sort key: score desc (rounded to `digits` decimals if given), then id."""
    if digits is None:
        return lambda h: (-h.score, h.id)
    return lambda h: (-round(h.score, digits), h.id)


TIE_REACH = 1000  # hits past a page that tie completion fetches at most


def rank_page(
    fetch: Callable[[int], list[Hit]],
    limit: int,
    offset: int,
    digits: int | None = None,
    ties: bool = True,
) -> list[Hit]:
    """Hits [offset, offset+limit) by score desc then id, from `fetch(n)` = the engine's top n.

    When a tie straddles the end of the page more hits are fetched until the tie is complete,
    up to TIE_REACH hits past the page (a word in thousands of equal captions ties them all:
    past that the engine's choice among them stands); `ties=False` fetches the page alone.
    `digits`: compare scores rounded to that many decimals (for scores two engines compute with
    different float precision).
    """
    want = offset + limit
    if limit == 0:
        return []
    key = rank_key(digits)
    n = want + 1 if ties else want
    while True:
        hits = sorted(fetch(n), key=key)
        if not ties or len(hits) < n or key(hits[-1])[0] != key(hits[want - 1])[0]:
            return hits[offset:want]
        if n > want + TIE_REACH:
            return hits[offset:want]
        n = min(n * 2, want + TIE_REACH + 1)


def rrf_score(rank: float, weight: float = 1.0) -> float:
    """What a point ranked `rank` (from 0) adds to its fused score: Qdrant's weighted RRF,
    1 / ((rank + 1) / weight + k - 1), which is 1 / (k + rank) at weight 1."""
    return 1.0 / ((rank + 1) / weight + RRF_K - 1)


def fuse(rankings: Sequence[tuple[list[Hit], float]], limit: int, offset: int = 0) -> list[Hit]:
    """Reciprocal rank fusion of (hits best first, weight) rankings: hits [offset, offset +
    limit) of every point in any of them, by fused score desc (to 1e-9, so that sums added in
    another order tie) then id. Hits of equal score in a ranking share the mean of their ranks
    (0, 1.5, 1.5, 3), so the fusion does not depend on how ties were ordered, and a tie of many
    counts as much as it would in any order on average. Payloads are the rankings'."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits, weight in rankings:
        for hit, rank in zip(hits, shared_ranks([h.score for h in hits]), strict=True):
            point, added = hit.id, rrf_score(rank, weight)
            if point in scores:
                scores[point] += added
            else:
                scores[point], first[point] = added, hit
    top = heapq.nsmallest(offset + limit, ((-round(v, 9), k) for k, v in scores.items()))
    return [Hit(k, scores[k], first[k].payload) for _, k in top[offset:]]


def shared_ranks(scores: Sequence[float]) -> list[float]:
    """Ranks from 0 of scores sorted best first, equal scores sharing their mean rank."""
    ranks: list[float] = []
    start = 0
    for i in range(1, len(scores) + 1):
        if i == len(scores) or scores[i] != scores[start]:
            ranks.extend([(start + i - 1) / 2] * (i - start))
            start = i
    return ranks


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
