"""Keyword (BM25) search on both stores: scores equal BM25 worked out by hand, hybrid equals
reciprocal rank fusion worked out by hand, and a collection made without the keyword vector
gets it from a backfill."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmsearch.infra.errors import Conflict, InvalidRequest
from mmsearch.infra.vectors import EdgeVectorStore, FieldType, VectorPoint, VectorStore
from mmsearch.infra.vectors.keyword_store import MISSING_KEYWORD
from mmsearch.infra.vectors.keywords import query_vector
from mmsearch.infra.vectors.types import CollectionSpec, KeywordConfig
from tests.fixtures.vectors import DIM, both_stores, point_id, unit_vectors

WORDS = KeywordConfig(fields=("text", "metadata.caption"))
SPEC = CollectionSpec("kw", DIM, "m", {"metadata.caption": FieldType.TEXT}, keyword=WORDS)
CAPTIONS = [
    "a dog runs on the beach",
    "a black dog and a white dog",
    "two cats asleep",
    "a dalmatian dog in the snow",
    "",  # no text: not in the keyword ranking
    "dogs chasing dogs chasing dogs",
    "the the",  # stopwords only
    "a red kite over the beach",
]
TAGS = {2: "zebra crossing", 7: ["kite", "beach festival"]}  # metadata.caption, text or a list
K, B = 1.2, 0.75


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[VectorStore]]:
    yield from both_stores(tmp_path)


def points(spec: CollectionSpec = SPEC) -> list[VectorPoint]:
    rng = np.random.default_rng(3)
    vectors = unit_vectors(rng, len(CAPTIONS) * 2).reshape(len(CAPTIONS), 2, DIM)
    found = []
    for i, caption in enumerate(CAPTIONS):
        payload = {"text": caption, "metadata": {"caption": TAGS.get(i, "")}}
        pair = {"image": vectors[i][0], "text": vectors[i][1]}
        found.append(VectorPoint(point_id(i), pair, payload))
    return found


def terms(text: str) -> list[int]:
    """A text's terms as the index sees them, one word at a time (stopwords drop out)."""
    return [t for word in text.split() for t in query_vector(WORDS, word).indices]


def bm25_by_hand(query: str) -> dict[str, float]:
    """Each point's BM25 score: IDF over the points with terms, and tf saturated by length."""
    docs = {}
    for i, caption in enumerate(CAPTIONS):
        tag = TAGS.get(i, "")
        text = " ".join([caption, *(tag if isinstance(tag, list) else [tag])])
        if terms(text):
            docs[point_id(i)] = Counter(terms(text))
    n_docs = len(docs)
    scores = {}
    for point, tf in docs.items():
        length = sum(tf.values())
        score = 0.0
        for term in set(terms(query)):
            if tf[term]:
                held = sum(1 for other in docs.values() if other[term])
                idf = math.log(1 + (n_docs - held + 0.5) / (held + 0.5))
                norm = K * (1 - B + B * length / WORDS.avg_len)
                score += idf * tf[term] * (K + 1) / (tf[term] + norm)
        if score > 0:
            scores[point] = score
    return scores


def by_score(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


@pytest.mark.parametrize("query", ["dog", "dogs on the beach", "zebra", "kite festival", "cat"])
def test_keyword_scores_are_bm25_by_hand(stores: list[VectorStore], query: str) -> None:
    want = by_score(bm25_by_hand(query))
    assert want
    for store in stores:
        store.create_collection(SPEC)
        store.upsert("kw", points())
        got = [(h.id, h.score) for h in store.search_keyword("kw", query, limit=20)]
        assert [i for i, _ in got] == [i for i, _ in want], type(store).__name__
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)


def test_keyword_pages_filters_and_empty_queries(stores: list[VectorStore]) -> None:
    for store in stores:
        store.create_collection(SPEC)
        store.upsert("kw", points())
        whole = store.search_keyword("kw", "dog beach", limit=10)
        pages = [store.search_keyword("kw", "dog beach", limit=2, offset=o) for o in (0, 2, 4)]
        assert [h.id for p in pages for h in p] == [h.id for h in whole]
        only = {"must": [{"has_id": [point_id(1), point_id(7)]}]}
        assert [h.id for h in store.search_keyword("kw", "dog beach", filter=only)] == [
            h.id for h in whole if h.id in (point_id(1), point_id(7))
        ]
        assert store.search_keyword("kw", "the of and") == []  # stopwords: no terms


def test_hybrid_is_weighted_rrf_by_hand(stores: list[VectorStore]) -> None:
    query = unit_vectors(np.random.default_rng(9), 1)[0]
    for store in stores:
        store.create_collection(SPEC)
        store.upsert("kw", points())
        for weights in ({}, {"image": 1.0, "text": 0.5, "keyword": 3.0}, {"image": 0.0}):
            rankings = {
                "image": store.search("kw", query, using="image", limit=100),
                "text": store.search("kw", query, using="text", limit=100),
                "keyword": store.search_keyword("kw", "dog beach", limit=100),
            }
            fused: dict[str, float] = {}
            for name, hits in rankings.items():
                w = weights.get(name, 1.0)
                for hit in hits:
                    # equal scores share the mean of their ranks
                    higher = sum(1 for other in hits if other.score > hit.score)
                    equal = sum(1 for other in hits if other.score == hit.score)
                    rank = higher + (equal - 1) / 2
                    if w > 0:  # Qdrant's weighted RRF, k = 2
                        fused[hit.id] = fused.get(hit.id, 0.0) + 1 / ((rank + 1) / w + 2 - 1)
            got = store.search_hybrid(
                "kw", {"image": query, "text": query}, keyword="dog beach", weights=weights
            )
            want = by_score(fused)[:10]
            assert [h.id for h in got] == [i for i, _ in want], weights
            np.testing.assert_allclose([h.score for h in got], [s for _, s in want], rtol=1e-9)
        with pytest.raises(InvalidRequest):
            store.search_hybrid("kw", {"image": query}, weights={"keyword": 1.0})
        with pytest.raises(InvalidRequest):
            store.search_hybrid("kw", {"image": query}, weights={"image": -1.0})


def test_payload_updates_rewrite_the_keyword_vector(stores: list[VectorStore]) -> None:
    for store in stores:
        store.create_collection(SPEC)
        store.upsert("kw", points())
        assert [h.id for h in store.search_keyword("kw", "zebra")] == [point_id(2)]
        store.set_payload("kw", [point_id(4)], {"metadata": {"caption": "a zebra, a zebra"}})
        assert [h.id for h in store.search_keyword("kw", "zebra")] == [point_id(4), point_id(2)]
        store.set_payload("kw", [point_id(2)], {"sync": "job-1"})  # not a keyword field
        store.set_payload("kw", [point_id(4)], {"metadata": {}})
        assert [h.id for h in store.search_keyword("kw", "zebra")] == [point_id(2)]
        # exported points carry their dense vectors only: the keyword one follows the payload
        read = store.retrieve("kw", [point_id(0)], with_vectors=True)[0]
        assert sorted(read.vectors) == ["image", "text"]


def test_a_collection_without_the_vector_gets_it_from_a_backfill(
    stores: list[VectorStore], tmp_path: Path
) -> None:
    plain = replace(SPEC, keyword=None)
    for store in stores:
        store.create_collection(plain)
        store.upsert("kw", points())
        with pytest.raises(InvalidRequest) as missing:
            store.search_keyword("kw", "dog")
        assert missing.value.code == "no_keyword_index"
        spec = store.enable_keyword("kw", WORDS)
        assert spec.keyword == replace(WORDS, ready=False)
        with pytest.raises(Conflict) as building:
            store.search_keyword("kw", "dog")
        assert building.value.code == "keyword_index_building"
        late = points()[5]  # written meanwhile: it gets the vector at once
        store.upsert("kw", [late])
        assert not store.finish_keyword("kw")
        after, filled = None, 0
        while True:
            ids, after = store.fill_keyword("kw", after, 3)
            filled += len(ids)
            if after is None:
                break
        assert filled == len(CAPTIONS) - 1  # every point but the one written since
        assert store.count("kw", MISSING_KEYWORD) == 0 and store.finish_keyword("kw")
        assert store.spec("kw").keyword == WORDS
        want = by_score(bm25_by_hand("dog beach"))
        assert [h.id for h in store.search_keyword("kw", "dog beach", limit=20)] == [
            i for i, _ in want
        ]
    edge = stores[0]
    assert isinstance(edge, EdgeVectorStore)
    edge.close()  # the vector and the spec outlive a restart
    reopened = EdgeVectorStore(tmp_path / "edge")
    try:
        assert reopened.spec("kw").keyword == WORDS
        assert [h.id for h in reopened.search_keyword("kw", "zebra")] == [point_id(2)]
    finally:
        reopened.close()


def test_keyword_configs_are_checked(stores: list[VectorStore]) -> None:
    for store in stores:
        bad = replace(SPEC, keyword=replace(WORDS, language="klingon"))
        with pytest.raises(InvalidRequest) as refused:
            store.create_collection(bad)
        assert refused.value.code == "unknown_language"
        with pytest.raises(InvalidRequest):
            store.create_collection(replace(SPEC, keyword=replace(WORDS, fields=())))


def test_idf_counted_over_a_tenants_own_points(stores: list[VectorStore]) -> None:
    """Another tenant's captions do not move a tenant's scores: IDF counts its own points."""
    mine = points()
    theirs = [
        VectorPoint(point_id(100 + i), p.vectors, {**p.payload, "text": "dog dog beach"})
        for i, p in enumerate(mine)
    ]
    owned = [VectorPoint(p.id, p.vectors, {**p.payload, "tenant": "a"}) for p in mine]
    others = [VectorPoint(p.id, p.vectors, {**p.payload, "tenant": "b"}) for p in theirs]
    own = {"must": [{"key": "tenant", "match": {"value": "a"}}]}
    for store in stores:
        store.create_collection(SPEC)
        store.upsert("kw", owned + others)
        alone = replace(SPEC, name="alone")
        store.create_collection(alone)
        store.upsert("alone", mine)
        want = [(h.id, h.score) for h in store.search_keyword("alone", "dog beach", limit=20)]
        got = store.search_keyword("kw", "dog beach", filter=own, idf_corpus=own, limit=20)
        assert [h.id for h in got] == [i for i, _ in want]
        np.testing.assert_allclose([h.score for h in got], [s for _, s in want], rtol=1e-5)
        shared = store.search_keyword("kw", "dog beach", filter=own, limit=20)
        assert [round(h.score, 4) for h in shared] != [round(s, 4) for _, s in want]
        fused = store.search_hybrid(
            "kw", {"image": mine[0].vectors["image"]}, keyword="dog", filter=own, idf_corpus=own
        )
        assert fused and all(h.payload["tenant"] == "a" for h in fused)
