"""Grouped search on the embedded engine: qdrant-edge-py 0.9.0 has no grouping in Python.

It works like Qdrant's own group_by. Each round searches the top `n` hits (payload: the group
field only) and groups them; the next round doubles `n` and leaves out, by ``match except``,
the points whose every group is already full (an array field keeps a point while one of its
values is still open). Once `limit` groups are known, rounds search only those still open.

Each round uses an exact prefix of the engine's ranking (the tie at its end is dropped
unless the engine ran out of hits), so the groups, and the hits in them, are the same as from
grouping the full ranking. Rounds stop when the best `limit` groups are full or the search
runs out of hits, so there are at most about log2(points / FIRST_PAGE) + 1 of them, and the
final hits get their full payloads in one retrieve.
"""

from __future__ import annotations

from typing import Any, cast

import qdrant_edge as qe

from mmsearch.infra.vectors.edge.collection import EdgeCollection, edge_hits
from mmsearch.infra.vectors.ranking import GroupKey, finish_groups, group_keys, rank_key
from mmsearch.infra.vectors.types import Hit, HitGroup

FIRST_PAGE = 64


def search_groups(
    coll: EdgeCollection,
    query: qe.Query,
    flt: qe.Filter | None,
    *,
    group_by: str,
    group_size: int,
    limit: int,
    score_threshold: float | None,
) -> list[HitGroup]:
    """The best `limit` groups of up to `group_size` hits by the values at `group_by`."""
    full: dict[GroupKey, list[Hit]] = {}  # final: found in an exact prefix of the ranking
    top: list[GroupKey] | None = None  # the best `limit` groups, once that many are known
    n = max(FIRST_PAGE, 2 * limit * group_size)
    key = rank_key()
    while True:
        open_keys = None if top is None else [k for k in top if k not in full]
        request = qe.SearchRequest(
            query=query,
            limit=n,
            filter=_narrow(flt, group_by, list(full), open_keys),
            params=coll.params,
            with_payload=[group_by],
            with_vector=False,
            score_threshold=score_threshold,
        )
        hits = sorted(edge_hits(coll.shard.search(request)), key=key)
        exhausted = len(hits) < n
        if not exhausted:  # the last score may continue past n: keep the hits above it
            hits = [h for h in hits if h.score > hits[-1].score]
        partial: dict[GroupKey, list[Hit]] = {}
        for hit in hits:
            for group in group_keys(hit.payload, group_by) or ():
                if group in full:
                    continue
                members = partial.setdefault(group, [])
                members.append(hit)
                if len(members) == group_size:
                    full[group] = partial.pop(group)
        groups = {**full, **partial}
        ranked = finish_groups(groups, limit, group_size)
        if exhausted or (len(ranked) == limit and all(g.key in full for g in ranked)):
            return _with_payloads(coll.shard, ranked)
        if top is None and len(ranked) == limit:
            top = [g.key for g in ranked]
        n *= 2


def _narrow(
    flt: qe.Filter | None,
    group_by: str,
    full: list[GroupKey],
    open_keys: list[GroupKey] | None,
) -> qe.Filter | None:
    """`flt`, less points in full groups only, and (when given) only points in `open_keys`.

    Only for keys of one type (what match except/any take): otherwise nothing is left out,
    which costs more hits per round but gives the same groups.
    """
    extra: list[Any] = []
    if _same_type(full):
        extra.append(qe.FieldCondition(group_by, match=qe.MatchExcept(cast(list[str], full))))
    if open_keys is not None and _same_type(open_keys):
        extra.append(qe.FieldCondition(group_by, match=qe.MatchAny(cast(list[str], open_keys))))
    if not extra:
        return flt
    return qe.Filter(must=([] if flt is None else [flt]) + extra)


def _same_type(keys: list[GroupKey]) -> bool:
    """True if `keys` is non-empty and all strings or all integers (what match any/except take)."""
    return bool(keys) and len({type(k) for k in keys}) == 1


def _with_payloads(shard: qe.EdgeShard, groups: list[HitGroup]) -> list[HitGroup]:
    """The groups with each hit's full payload (the rounds fetched the group field only)."""
    ids = list(dict.fromkeys(h.id for g in groups for h in g.hits))
    records = shard.retrieve(list(ids), True, False) if ids else []
    payloads = {str(r.id): dict(r.payload or {}) for r in records}
    return [
        HitGroup(g.key, [Hit(h.id, h.score, payloads.get(h.id, h.payload)) for h in g.hits])
        for g in groups
    ]
