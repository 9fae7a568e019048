"""The embedded store and the qdrant-client store answer the same operations identically."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.errors import BadFilter, CollectionExists, CollectionNotFound, InvalidRequest
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, IndexConfig, VectorStore
from tests.fixtures.vectors import (
    ATOL,
    DIM,
    FILTERS,
    SCHEMA,
    SPEC,
    album,
    assert_same_hits,
    both_stores,
    loaded,
    make_points,
    point_id,
    queries,
    same,
)

# Graphs built every 100 points: the edge store searches HNSW + int8, the server (local) exactly.
SMALL_INDEX = replace(SPEC, index=IndexConfig(indexing_threshold=100))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[VectorStore]]:
    yield from both_stores(tmp_path)


@pytest.mark.parametrize("spec", [SPEC, SMALL_INDEX], ids=["exact", "hnsw-int8"])
@pytest.mark.parametrize("using", ["image", "text"])
def test_searches_agree_with_and_without_filters(
    stores: list[VectorStore], using: str, spec: CollectionSpec
) -> None:
    loaded(stores, spec=spec)
    for q in queries():
        assert len(same(stores, "search", q, using=using, limit=10)) == 10
        same(stores, "search", q, using=using, limit=7, offset=5)
        same(stores, "search", q, using=using, limit=50, score_threshold=0.1)
        for name, flt in FILTERS.items():
            hits = same(stores, "search", q, using=using, filter=flt, limit=10)
            assert hits or name in {"is_null", "integer_value"}, name
            same(stores, "search", q, using=using, filter=flt, limit=5, offset=3)


def test_ties_are_broken_by_id(stores: list[VectorStore]) -> None:
    loaded(stores)
    hits = same(stores, "search", queries()[0], limit=3)
    assert [h.id for h in hits] == sorted(point_id(i) for i in (10, 11, 12))
    assert hits[0].score == pytest.approx(1.0, abs=ATOL) and len({h.score for h in hits}) == 1
    for offset in range(3):  # a page edge inside the tie still pages consistently
        page = same(stores, "search", queries()[0], limit=1, offset=offset)
        assert page[0].id == hits[offset].id


def test_edge_search_is_exact_below_the_indexing_threshold(stores: list[VectorStore]) -> None:
    loaded(stores)
    points = make_points()
    images = np.stack([p.vectors["image"] for p in points])
    for q in queries()[1:]:
        scores = images @ q
        order = sorted(range(len(points)), key=lambda i: (-scores[i], points[i].id))[:20]
        hits = stores[0].search(SPEC.name, q, limit=20)
        assert [h.id for h in hits] == [points[i].id for i in order]
        np.testing.assert_allclose([h.score for h in hits], scores[order], atol=ATOL)


def test_counts_retrieve_delete_and_reupsert_agree(stores: list[VectorStore]) -> None:
    loaded(stores)
    assert same(stores, "count") == 300
    for flt in FILTERS.values():
        same(stores, "count", flt)
    asked = [point_id(5), "00000000-0000-0000-0000-000000000000", point_id(2), point_id(5)]
    for with_vectors in (False, True):
        got = [s.retrieve(SPEC.name, asked, with_vectors=with_vectors) for s in stores]
        assert [p.id for p in got[0]] == [point_id(5), point_id(2)]
        for a, b in zip(got[0], got[1], strict=True):
            assert (a.id, a.payload, sorted(a.vectors)) == (b.id, b.payload, sorted(b.vectors))
            for name in a.vectors:
                np.testing.assert_allclose(a.vectors[name], b.vectors[name], atol=ATOL)
    assert sorted(got[0][1].vectors) == ["image", "text"] and list(got[0][0].vectors) == ["image"]

    gone = [point_id(i) for i in range(0, 300, 10)]
    for store in stores:
        store.delete_points(SPEC.name, [*gone, "11111111-1111-1111-1111-111111111111"])
    assert same(stores, "count") == 270
    assert same(stores, "retrieve", gone) == []

    changed = [replace(p, payload={**p.payload, "edited": True}) for p in make_points()[1:101]]
    for store in stores:
        store.upsert(SPEC.name, changed)
    assert same(stores, "count") == 270 + len([p for p in changed if p.id in gone])
    assert same(stores, "count", {"must": [{"key": "edited", "match": {"value": True}}]}) == 100
    for q in queries():
        same(stores, "search", q, limit=15)
        same(stores, "search", q, filter=FILTERS["keyword"], limit=15)


def test_collections_lifecycle_and_errors(stores: list[VectorStore]) -> None:
    for store in stores:
        assert store.list_collections() == []
        store.create_collection(SPEC)
        store.create_collection(replace(SPEC, name="other", dim=8, payload_schema={}))
        with pytest.raises(CollectionExists):
            store.create_collection(SPEC)
        info = store.get_collection(SPEC.name)
        assert (info.spec, info.count) == (SPEC, 0)
        assert store.spec(SPEC.name) == SPEC
        assert [c.spec.name for c in store.list_collections()] == ["other", "photos"]
        store.delete_collection("other")
        for call, args in [
            ("get_collection", ()),
            ("spec", ()),
            ("delete_collection", ()),
            ("count", ()),
            ("search", (np.ones(DIM),)),
            ("upsert", (make_points(2),)),
            ("retrieve", ([point_id(1)],)),
            ("delete_points", ([point_id(1)],)),
        ]:
            with pytest.raises(CollectionNotFound):
                getattr(store, call)("missing", *args)
        assert [c.spec.name for c in store.list_collections()] == ["photos"]


def test_edge_persists_collections_specs_and_points(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    loaded([store])
    store.create_collection(replace(SPEC, name="empty", payload_schema={}))
    before = [store.search(SPEC.name, q, filter=FILTERS["keyword"], limit=10) for q in queries()]
    vectors = store.retrieve(SPEC.name, [point_id(4)], with_vectors=True)[0].vectors
    store.close()
    with pytest.raises(Exception, match="closed"):
        store.count(SPEC.name)

    store = EdgeVectorStore(tmp_path)
    assert [(c.spec, c.count) for c in store.list_collections()] == [
        (replace(SPEC, name="empty", payload_schema={}), 0),
        (SPEC, 300),
    ]
    assert set(store._collections.by_name[SPEC.name].shard.info().payload_schema) == set(SCHEMA)
    after = [store.search(SPEC.name, q, filter=FILTERS["keyword"], limit=10) for q in queries()]
    for a, b in zip(before, after, strict=True):
        assert_same_hits(a, b)
    again = store.retrieve(SPEC.name, [point_id(4)], with_vectors=True)[0].vectors
    np.testing.assert_array_equal(again["image"], vectors["image"])
    store.delete_collection("empty")
    store.close()

    store = EdgeVectorStore(tmp_path)
    assert [c.spec.name for c in store.list_collections()] == [SPEC.name]
    store.close()


def test_edge_folder_has_one_owner(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    with pytest.raises(Exception, match="in use"):
        EdgeVectorStore(tmp_path)
    store.close()
    EdgeVectorStore(tmp_path).close()


def test_edge_builds_the_index_as_points_arrive(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    loaded([store], spec=SMALL_INDEX)
    info = store._collections.by_name[SPEC.name].shard.info()
    assert info.indexed_vectors_count >= 200 and info.points_count == 300
    assert store.count(SPEC.name) == 300
    for p in make_points()[20:40]:  # a stored vector finds itself first
        assert store.search(SPEC.name, p.vectors["image"], limit=1)[0].id == p.id


def test_edge_is_safe_to_share_between_threads(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    store.create_collection(replace(SPEC, index=IndexConfig(indexing_threshold=128)))
    points, errors = make_points(), []

    def work(part: int) -> None:
        try:
            for start in range(part * 100, part * 100 + 100, 20):
                store.upsert(SPEC.name, points[start : start + 20])
                store.search(SPEC.name, points[start].vectors["image"], limit=5)
                store.count(SPEC.name, FILTERS["keyword"])
                store.list_collections()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.count(SPEC.name) == 300
    store.close()


BAD_NAMES = ["", "../escape", "a/b", ".hidden", "-dash", "x" * 65, "spa ce", "ünï", "a\x00b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_collection_names_are_refused(stores: list[VectorStore], name: str) -> None:
    for store in stores:
        with pytest.raises(InvalidRequest):
            store.create_collection(replace(SPEC, name=name))
        for call, args in [("get_collection", ()), ("delete_collection", ()), ("count", ())]:
            with pytest.raises(InvalidRequest):
                getattr(store, call)(name, *args)
        with pytest.raises(InvalidRequest):
            store.search(name, np.ones(DIM))


def _deep(levels: int) -> dict[str, Any]:
    flt: dict[str, Any] = {"must": [album("beach")]}
    for _ in range(levels):
        flt = {"should": [flt]}
    return flt


def _nested(inner: dict[str, Any]) -> dict[str, Any]:
    return {"must": [{"nested": {"key": "metadata.faces", "filter": {"must": [inner]}}}]}


BAD_FILTERS: list[Any] = [
    {"must": [{"key": "metadata.album", "match": {"valu": "beach"}}]},
    {"unknown_clause": []},
    {"must": "not-a-condition"},
    {"must": [{"key": "metadata.year", "match": {"value": 1.5}}]},
    {"must": [{"key": "metadata.album", "match": {"any": ["a", 1]}}]},
    {"must": [{"key": "metadata.taken", "range": {"gte": "not a date"}}]},
    {"must": [{"key": "metadata.year", "range": {"between": 3}}]},
    {"must": [{"is_empty": "metadata.album"}]},
    ["not", "an", "object"],
    # what the models let through and a Qdrant server refuses
    {"must": [{"key": "metadata.year"}]},
    {"must": [{"key": "metadata.year", "match": {"value": 1}, "range": {"gt": 1}}]},
    {"must": [{"key": "metadata.year", "range": {}}]},
    {"must": [{"key": "metadata.tags", "values_count": {}}]},
    {"must": [{"key": "metadata.tags", "values_count": {"gte": "two"}}]},
    {"min_should": {"conditions": [album("beach")], "min_count": 0}},
    {"min_should": {"conditions": [], "min_count": -1}},
    {"must": [{"has_id": ["not-a-uuid"]}]},
    {"must": [{"has_id": [7]}]},
    {"must": [{"key": "", "match": {"value": 1}}]},
    {"must": [{"is_null": {"key": ""}}]},
    {"must": [{"nested": {"key": "", "filter": {}}}]},
    {"must": [{"slice": {"total": 2, "index": 2}}]},
    _nested({"key": "age", "range": {}}),
    _nested({"has_id": ["not-a-uuid"]}),
    {"should": [{}, _deep(16)]},
]


@pytest.mark.parametrize("flt", BAD_FILTERS)
def test_bad_filters_raise_bad_filter(stores: list[VectorStore], flt: Any) -> None:
    loaded(stores, make_points(5))
    for store in stores:
        with pytest.raises(BadFilter):
            store.search(SPEC.name, np.ones(DIM), filter=flt)
        with pytest.raises(BadFilter):
            store.count(SPEC.name, flt)


def test_filters_up_to_the_depth_limit_work(stores: list[VectorStore]) -> None:
    loaded(stores, make_points(30))
    assert same(stores, "count", _deep(16)) == same(stores, "count", FILTERS["keyword"]) > 0


@pytest.mark.parametrize(
    "flt",
    [
        {"must": [{"key": "geo", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": 1}}]},
        {"must": [{"key": "metadata.album", "match": {"prefix": "bea"}}]},
        {"must": [{"slice": {"total": 2, "index": 0}}]},
    ],
)
def test_edge_refuses_what_it_cannot_express(tmp_path: Path, flt: Any) -> None:
    store = EdgeVectorStore(tmp_path)
    loaded([store], make_points(5))
    with pytest.raises(BadFilter):
        store.search(SPEC.name, np.ones(DIM), filter=flt)


def test_invalid_points_and_queries_are_refused(stores: list[VectorStore]) -> None:
    loaded(stores, make_points(5))
    good = make_points(1)[0]
    bad_points = [
        replace(good, id="not-a-uuid"),
        replace(good, vectors={"image": np.ones(DIM + 1)}),
        replace(good, vectors={"audio": np.ones(DIM)}),
        replace(good, vectors={}),
        replace(good, vectors={"image": np.full(DIM, np.nan)}),
    ]
    for store in stores:
        for bad in bad_points:
            with pytest.raises(InvalidRequest):
                store.upsert(SPEC.name, [bad])
        with pytest.raises(InvalidRequest):
            store.search(SPEC.name, np.ones(DIM), using="audio")
        with pytest.raises(InvalidRequest):
            store.search(SPEC.name, np.ones(3))
        with pytest.raises(InvalidRequest):
            store.search(SPEC.name, np.ones(DIM), offset=-1)
        assert store.count(SPEC.name) == 5
