"""The query methods (hybrid, recommend, groups, batch, scroll, bulk updates, aliases) answer
identically on the embedded store and the qdrant-client store, and as specified."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.errors import (
    BadFilter,
    CollectionExists,
    CollectionNotFound,
    Conflict,
    InvalidRequest,
    ItemNotFound,
)
from mmsearch.infra.vectors import EdgeVectorStore, Hit, VectorPoint, VectorStore
from mmsearch.infra.vectors.arguments import MIN_PREFETCH
from mmsearch.infra.vectors.edge import groups as edge_groups
from mmsearch.infra.vectors.ranking import group_keys
from tests.fixtures.vectors import (
    ATOL,
    DIM,
    FILTERS,
    POINTS,
    SPEC,
    assert_same_hits,
    both_stores,
    loaded,
    point_id,
    queries,
    same,
)

IMAGES = np.stack([p.vectors["image"] for p in POINTS])
MISSING_ID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[VectorStore]]:
    yield from both_stores(tmp_path)


def exact_ranking(
    q: np.ndarray, using: str = "image", keep: Any = None, points: list[VectorPoint] = POINTS
) -> list[Hit]:
    """Every point with vector `using` by cosine to q, score desc then id (ground truth)."""
    hits = [
        Hit(p.id, float(np.dot(p.vectors[using], q / np.linalg.norm(q))), p.payload)
        for p in points
        if using in p.vectors and (keep is None or keep(p))
    ]
    return sorted(hits, key=lambda h: (-h.score, h.id))


# -- search_hybrid -------------------------------------------------------------------------------

# Within one ranking, an engine orders equal scores as it likes, and the rank decides the RRF
# score: so these tests leave out points 11 and 12, whose image vector is point 10's.
DISTINCT = [p for p in POINTS if p.id not in {point_id(11), point_id(12)}]


def rrf(rankings: list[list[Hit]], depth: int) -> dict[str, float]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking[:depth]):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (2 + rank)
    return scores


def test_hybrid_search_agrees_and_is_rrf(stores: list[VectorStore]) -> None:
    loaded(stores, DISTINCT)
    q = queries()
    for image, text in [(q[1], q[2]), (q[3], q[3]), (q[4], q[5])]:
        vectors = {"image": image, "text": text}
        hits = same(stores, "search_hybrid", vectors, limit=20)
        rankings = [
            exact_ranking(image, points=DISTINCT),
            exact_ranking(text, "text", points=DISTINCT),
        ]
        expected = rrf(rankings, MIN_PREFETCH)  # the default window
        best = sorted(expected.items(), key=lambda kv: (-round(kv[1], 6), kv[0]))[:20]
        assert [h.id for h in hits] == [i for i, _ in best]
        np.testing.assert_allclose([h.score for h in hits], [s for _, s in best], atol=ATOL)
        assert hits[0].payload == next(p.payload for p in DISTINCT if p.id == hits[0].id)
        same(stores, "search_hybrid", vectors, limit=7, offset=9)
        same(stores, "search_hybrid", vectors, limit=10, prefetch_limit=5)
        same(stores, "search_hybrid", {"text": text}, limit=10)
        for name, flt in FILTERS.items():
            found = same(stores, "search_hybrid", vectors, filter=flt, limit=8)
            assert found or name in {"is_null", "integer_value"}, name


def test_hybrid_prefetch_limit_bounds_each_ranking(stores: list[VectorStore]) -> None:
    loaded(stores, DISTINCT)
    image, text = queries()[1], queries()[2]
    hits = same(stores, "search_hybrid", {"image": image, "text": text}, prefetch_limit=3)
    rankings = [exact_ranking(image, points=DISTINCT), exact_ranking(text, "text", points=DISTINCT)]
    expected = rrf(rankings, 3)
    assert sorted(h.id for h in hits) == sorted(expected)  # at most 3 + 3 candidates
    # a text-only point is impossible here, so points with odd numbers rank by image only
    only_image = {p.id for p in POINTS if "text" not in p.vectors}
    for hit in same(stores, "search_hybrid", {"image": image, "text": text}, limit=50):
        if hit.id in only_image:
            assert hit.score <= 0.5 + ATOL


def test_hybrid_search_validates(stores: list[VectorStore]) -> None:
    loaded(stores, POINTS[:5])
    good = np.ones(DIM)
    for store in stores:
        for bad in [{}, {"audio": good}, {"image": np.ones(3)}, {"image": np.zeros(DIM)}]:
            with pytest.raises(InvalidRequest):
                store.search_hybrid(SPEC.name, bad)
        with pytest.raises(InvalidRequest):
            store.search_hybrid(SPEC.name, {"image": good}, prefetch_limit=0)
        with pytest.raises(InvalidRequest):
            store.search_hybrid(SPEC.name, {"image": good}, offset=-1)
        with pytest.raises(BadFilter):
            store.search_hybrid(SPEC.name, {"image": good}, filter={"bogus": []})
        assert store.search_hybrid(SPEC.name, {"image": good}, limit=0) == []


# -- recommend -----------------------------------------------------------------------------------


def test_recommend_agrees_and_averages(stores: list[VectorStore]) -> None:
    loaded(stores)
    cases = [([1], []), ([1, 2], [3]), ([4, 6, 8], [5, 7]), ([10], [])]
    for pos, neg in cases:
        positive, negative = [point_id(i) for i in pos], [point_id(i) for i in neg]
        hits = same(stores, "recommend", positive, negative, limit=15)
        assert not {h.id for h in hits} & {*positive, *negative}
        mean_pos = IMAGES[pos].astype(np.float64).mean(axis=0)
        target = mean_pos + mean_pos - IMAGES[neg].mean(axis=0) if neg else mean_pos
        examples = {*positive, *negative}
        expected = exact_ranking(target, keep=lambda p, ex=examples: p.id not in ex)[:15]
        assert [h.id for h in hits] == [h.id for h in expected]
        np.testing.assert_allclose([h.score for h in hits], [h.score for h in expected], atol=ATOL)
        same(stores, "recommend", positive, negative, limit=5, offset=4)
        same(stores, "recommend", positive, negative, limit=50, score_threshold=0.2)
        same(stores, "recommend", positive, negative, filter=FILTERS["keyword"], limit=10)
        same(stores, "recommend", positive, negative, filter=FILTERS["min_should"], limit=10)
    texts = same(stores, "recommend", [point_id(0), point_id(2)], [point_id(4)], using="text")
    assert texts and all("text" in POINTS[int(h.payload["uri"][-8:-4])].vectors for h in texts)


def test_recommend_ties_and_excluded_examples(stores: list[VectorStore]) -> None:
    loaded(stores)
    hits = same(stores, "recommend", [point_id(10)], limit=3)
    assert [h.id for h in hits[:2]] == sorted([point_id(11), point_id(12)])
    assert hits[0].score == pytest.approx(1.0, abs=ATOL)


def test_recommend_errors(stores: list[VectorStore]) -> None:
    loaded(stores)
    for store in stores:
        with pytest.raises(ItemNotFound) as err:
            store.recommend(SPEC.name, [point_id(1), MISSING_ID], [point_id(2)])
        assert err.value.details["missing"] == [MISSING_ID]
        with pytest.raises(ItemNotFound) as err:  # odd points have no text vector
            store.recommend(SPEC.name, [point_id(2)], [point_id(3)], using="text")
        assert err.value.details["missing"] == [point_id(3)]
        with pytest.raises(InvalidRequest):
            store.recommend(SPEC.name, [], [point_id(2)])
        with pytest.raises(InvalidRequest):
            store.recommend(SPEC.name, ["not-a-uuid"])
        with pytest.raises(InvalidRequest):
            store.recommend(SPEC.name, [point_id(1)], using="audio")
        opposite = VectorPoint(MISSING_ID, {"image": -IMAGES[1]}, {})
        store.upsert(SPEC.name, [opposite])
        with pytest.raises(InvalidRequest):  # the examples cancel out
            store.recommend(SPEC.name, [point_id(1), MISSING_ID])
        with pytest.raises(BadFilter):
            store.recommend(SPEC.name, [point_id(1)], filter={"must": "nope"})


# -- search_groups -------------------------------------------------------------------------------


def expected_groups(
    q: np.ndarray, group_by: str, limit: int, size: int, keep: Any = None
) -> list[tuple[Any, list[str]]]:
    """Grouping of the full exact ranking (ground truth)."""
    groups: dict[Any, list[Hit]] = {}
    for hit in exact_ranking(q, keep=keep):
        for key in group_keys(hit.payload, group_by) or ():
            groups.setdefault(key, []).append(hit)
    order = sorted(groups, key=lambda k: (-groups[k][0].score, groups[k][0].id, str(k)))
    return [(k, [h.id for h in groups[k][:size]]) for k in order[:limit]]


GROUP_CASES = [
    ("metadata.album", 3, 1),
    ("metadata.album", 10, 3),
    ("metadata.year", 5, 2),
    ("metadata.year", 40, 4),
    ("metadata.tags", 4, 3),
    ("metadata.tags", 10, 50),
]


@pytest.mark.parametrize("first_page", [edge_groups.FIRST_PAGE, 1])
def test_search_groups_agree_with_full_grouping(
    stores: list[VectorStore], monkeypatch: pytest.MonkeyPatch, first_page: int
) -> None:
    monkeypatch.setattr(edge_groups, "FIRST_PAGE", first_page)  # 1: many rounds per search
    loaded(stores)
    for q in queries():
        for group_by, limit, size in GROUP_CASES:
            groups = same(
                stores, "search_groups", q, group_by=group_by, limit=limit, group_size=size
            )
            got = [(g.key, [h.id for h in g.hits]) for g in groups]
            assert got == expected_groups(q, group_by, limit, size), (group_by, limit, size)
            assert all(len(g.hits) <= size for g in groups) and len(groups) <= limit
        keyword = FILTERS["integer_range"]
        same(stores, "search_groups", q, group_by="metadata.album", group_size=2, filter=keyword)
        same(stores, "search_groups", q, group_by="metadata.tags", score_threshold=0.1, limit=3)
        same(stores, "search_groups", q, group_by="metadata.year", using="text", group_size=2)


def test_search_groups_types_ties_and_missing_fields(stores: list[VectorStore]) -> None:
    loaded(stores)
    q = queries()[0]  # the image vector shared by points 10, 11, 12
    for store in stores:  # ties inside a group, and mixed key types
        store.set_payload(SPEC.name, [point_id(i) for i in (12, 11, 10)], {"grp": "same"})
        store.set_payload(SPEC.name, [point_id(i) for i in range(20, 40)], {"grp": 7})
        store.set_payload(SPEC.name, [point_id(i) for i in range(40, 45)], {"grp": True})
        store.set_payload(SPEC.name, [point_id(i) for i in range(45, 50)], {"grp": [1, "x"]})
    groups = same(stores, "search_groups", q, group_by="grp", group_size=2, limit=10)
    assert groups[0].key == "same"
    assert [h.id for h in groups[0].hits] == sorted(point_id(i) for i in (10, 11, 12))[:2]
    assert {g.key for g in groups} == {"same", 7, 1, "x"}  # booleans do not group
    assert same(stores, "search_groups", q, group_by="metadata.favourite") == []
    assert same(stores, "search_groups", q, group_by="metadata.nothing") == []
    albums = same(stores, "search_groups", q, group_by="metadata.album", limit=10, group_size=60)
    assert sorted(g.key for g in albums) == ["beach", "city", "desert", "forest", "mountain"]
    without = {point_id(i) for i in range(0, 300, 17)}
    assert not without & {h.id for g in albums for h in g.hits}
    assert sum(len(g.hits) for g in albums) == 300 - len(without)


def test_search_groups_validate(stores: list[VectorStore]) -> None:
    loaded(stores, POINTS[:5])
    for store in stores:
        for kwargs in [
            {"group_by": ""},
            {"group_by": "a..b"},
            {"group_by": "x", "group_size": 0},
            {"group_by": "x", "limit": 0},
            {"group_by": "x", "using": "audio"},
        ]:
            with pytest.raises(InvalidRequest):
                store.search_groups(SPEC.name, np.ones(DIM), **kwargs)


# -- search_batch --------------------------------------------------------------------------------


def test_search_batch_matches_search(stores: list[VectorStore]) -> None:
    loaded(stores)
    q = list(queries())
    for kwargs in [
        {"limit": 10},
        {"limit": 2},  # query 0 ends inside the tie of points 10, 11, 12
        {"limit": 30, "score_threshold": 0.15},
        {"limit": 5, "filter": FILTERS["should"]},
        {"limit": 5, "using": "text", "filter": FILTERS["datetime_range"]},
    ]:
        batch = same(stores, "search_batch", q, **kwargs)
        for store in stores:
            for vector, hits in zip(q, batch, strict=True):
                assert_same_hits(store.search(SPEC.name, vector, **kwargs), hits, str(kwargs))
    assert same(stores, "search_batch", [], limit=5) == []
    assert same(stores, "search_batch", q[:2], limit=0) == [[], []]
    assert [h.id for h in same(stores, "search_batch", q[:1], limit=2)[0]] == sorted(
        point_id(i) for i in (10, 11, 12)
    )[:2]
    for store in stores:
        with pytest.raises(InvalidRequest):
            store.search_batch(SPEC.name, [q[0], np.ones(3)])


# -- scroll --------------------------------------------------------------------------------------


def scroll_all(store: VectorStore, **kwargs: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page, cursor = store.scroll(SPEC.name, after=cursor, **kwargs)
        pages.append([p.id for p in page])
        if cursor is None:
            return pages
        assert cursor == page[-1].id


def test_scroll_pages_in_id_order(stores: list[VectorStore]) -> None:
    loaded(stores)
    everything = sorted(p.id for p in POINTS)
    for kwargs in [{"limit": 7}, {"limit": 300}, {"limit": 299}, {"limit": 1000}]:
        pages = [scroll_all(store, **kwargs) for store in stores]
        assert pages[0] == pages[1]
        assert [i for page in pages[0] for i in page] == everything
    beach = sorted(p.id for p in POINTS if p.payload["metadata"].get("album") == "beach")
    for store in stores:
        assert [
            i for page in scroll_all(store, limit=9, filter=FILTERS["keyword"]) for i in page
        ] == beach
    page = same(stores, "scroll", limit=4, after=everything[10], with_vectors=True)
    assert [p.id for p in page[0]] == everything[11:15] and page[1] == everything[14]
    assert all("image" in p.vectors for p in page[0])
    assert all(p.vectors == {} for p in same(stores, "scroll", limit=3)[0])
    for store in stores:  # a cursor whose point was deleted still pages on
        store.delete_points(SPEC.name, [everything[20]])
    assert same(stores, "scroll", limit=3, after=everything[20])[0][0].id == everything[21]
    assert same(stores, "scroll", after=everything[-1]) == ([], None)
    assert same(stores, "scroll", limit=2, after=everything[-3])[1] is None
    for store in stores:
        for bad in [{"limit": 0}, {"limit": 10_001}, {"after": "not-a-uuid"}]:
            with pytest.raises(InvalidRequest):
                store.scroll(SPEC.name, **bad)


# -- set_payload, delete_by_filter ---------------------------------------------------------------


def test_set_payload_overwrites_top_level_keys(stores: list[VectorStore]) -> None:
    loaded(stores)
    ids = [point_id(i) for i in range(0, 60, 3)]
    for store in stores:
        store.set_payload(SPEC.name, [*ids, MISSING_ID], {"metadata": {"album": "x"}, "new": 1})
        store.set_payload(SPEC.name, [], {"other": 2})
        store.set_payload(SPEC.name, ids[:2], {})
    points = same(stores, "retrieve", [*ids, point_id(1)])
    for p in points[:-1]:
        assert p.payload == {
            "uri": f"s3://bucket/img/{int(p.payload['uri'][-8:-4]):04d}.jpg",
            "metadata": {"album": "x"},
            "new": 1,
        }
    assert points[-1].payload == POINTS[1].payload
    assert same(stores, "count", {"must": [{"key": "new", "match": {"value": 1}}]}) == 20
    assert same(stores, "retrieve", [MISSING_ID]) == []
    assert same(stores, "count") == 300
    for store in stores:
        with pytest.raises(InvalidRequest):
            store.set_payload(SPEC.name, ids, ["not", "an", "object"])  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest):
            store.set_payload(SPEC.name, ["not-a-uuid"], {"a": 1})


def test_delete_by_filter_counts(stores: list[VectorStore]) -> None:
    loaded(stores)
    remaining = 300
    for name in ["keyword", "integer_range", "has_id", "is_null", "is_empty"]:
        before = same(stores, "count", FILTERS[name])
        assert same(stores, "delete_by_filter", FILTERS[name]) == before
        remaining -= before
        assert same(stores, "count") == remaining and same(stores, "count", FILTERS[name]) == 0
    assert same(stores, "delete_by_filter", FILTERS["keyword"]) == 0
    for q in queries():
        same(stores, "search", q, limit=10)
    for store in stores:
        with pytest.raises(BadFilter):
            store.delete_by_filter(SPEC.name, {"must": [{"key": "x", "match": {"valu": 1}}]})
        with pytest.raises(BadFilter):
            store.delete_by_filter(SPEC.name, None)  # type: ignore[arg-type]
    assert same(stores, "delete_by_filter", {}) == remaining
    assert same(stores, "count") == 0


# -- unknown collections -------------------------------------------------------------------------


def test_new_methods_raise_collection_not_found(stores: list[VectorStore]) -> None:
    v = np.ones(DIM)
    for store in stores:
        for call, args, kwargs in [
            ("search_hybrid", ({"image": v},), {}),
            ("recommend", ([point_id(1)],), {}),
            ("search_groups", (v,), {"group_by": "metadata.album"}),
            ("set_payload", ([point_id(1)], {"a": 1}), {}),
            ("set_payload", ([], {}), {}),
            ("delete_by_filter", ({},), {}),
            ("search_batch", ([v],), {}),
            ("scroll", (), {}),
        ]:
            with pytest.raises(CollectionNotFound):
                getattr(store, call)("missing", *args, **kwargs)


# -- aliases -------------------------------------------------------------------------------------

OTHER = replace(SPEC, name="photos_v2", payload_schema={})


def test_aliases_resolve_everywhere(stores: list[VectorStore]) -> None:
    loaded(stores)
    q = queries()[1]
    for store in stores:
        store.create_collection(OTHER)
        store.upsert(OTHER.name, POINTS[:5])
        assert store.list_aliases() == {}
        store.set_alias("live", SPEC.name)
        store.set_alias("live", SPEC.name)  # idempotent
        store.set_alias("second", "live")  # an alias of an alias points at the collection
        assert store.list_aliases() == {"live": SPEC.name, "second": SPEC.name}
        info = store.get_collection("live")
        assert (info.spec, info.count) == (SPEC, 300)
        assert [c.spec.name for c in store.list_collections()] == [SPEC.name, OTHER.name]
        assert_same_hits(store.search("live", q), store.search(SPEC.name, q))
        hybrid = [store.search_hybrid(n, {"image": q}) for n in ("live", SPEC.name)]
        assert_same_hits(*hybrid)
        assert store.count("live", FILTERS["keyword"]) == store.count(SPEC.name, FILTERS["keyword"])
        assert store.retrieve("second", [point_id(3)])[0].id == point_id(3)
        assert store.scroll("live", limit=5) == store.scroll(SPEC.name, limit=5)
        assert len(store.recommend("live", [point_id(1)])) == 10
        assert store.search_groups("live", q, group_by="metadata.album")
        assert len(store.search_batch("live", [q, q])) == 2
        store.set_payload("live", [point_id(3)], {"via": "alias"})
        assert store.retrieve(SPEC.name, [point_id(3)])[0].payload["via"] == "alias"
        store.upsert("live", [replace(POINTS[0], id=MISSING_ID)])
        store.delete_points("live", [MISSING_ID])
        assert store.delete_by_filter("live", {"must": [{"has_id": [point_id(4)]}]}) == 1
        assert store.count(SPEC.name) == 299

        store.set_alias("live", OTHER.name)  # re-point
        assert store.get_collection("live").spec == OTHER and store.count("live") == 5
        assert store.list_aliases() == {"live": OTHER.name, "second": SPEC.name}


def test_alias_conflicts_and_deletion(stores: list[VectorStore]) -> None:
    for store in stores:
        store.create_collection(SPEC)
        store.create_collection(OTHER)
        store.set_alias("live", SPEC.name)
        store.set_alias("old", OTHER.name)
        with pytest.raises(Conflict):  # a collection's name
            store.set_alias(OTHER.name, SPEC.name)
        with pytest.raises(CollectionNotFound):
            store.set_alias("dangling", "missing")
        with pytest.raises(CollectionExists):
            store.create_collection(replace(SPEC, name="live"))
        with pytest.raises(Conflict) as refused:
            store.delete_collection("live")
        assert not isinstance(refused.value, CollectionExists)
        with pytest.raises(CollectionNotFound):
            store.delete_alias("nope")
        with pytest.raises(InvalidRequest):
            store.set_alias("../bad", SPEC.name)
        store.delete_alias("live")
        with pytest.raises(CollectionNotFound):
            store.get_collection("live")
        with pytest.raises(CollectionNotFound):
            store.delete_alias("live")
        store.delete_collection(OTHER.name)  # takes its aliases with it
        assert store.list_aliases() == {}
        with pytest.raises(CollectionNotFound):
            store.count("old")
        store.create_collection(replace(OTHER, name="old"))  # the name is free again
        assert [c.spec.name for c in store.list_collections()] == ["old", SPEC.name]


def test_edge_aliases_persist(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    store.create_collection(SPEC)
    store.create_collection(OTHER)
    store.set_alias("live", SPEC.name)
    store.set_alias("next", OTHER.name)
    store.set_alias("live", OTHER.name)
    store.close()
    with pytest.raises(Exception, match="closed"):
        store.list_aliases()

    store = EdgeVectorStore(tmp_path)
    assert store.list_aliases() == {"live": OTHER.name, "next": OTHER.name}
    assert store.get_collection("live").spec == OTHER
    store.delete_alias("next")
    store.close()

    (tmp_path / "aliases.json.tmp").write_text("{half a file")  # an interrupted save
    store = EdgeVectorStore(tmp_path)
    assert store.list_aliases() == {"live": OTHER.name}
    assert not (tmp_path / "aliases.json.tmp").exists()
    store.close()
