"""Search: every answer equals the encoder called directly and the vector store searched with
that vector (text, image by reference, upload or base64, weighted mixes, stored items, filters,
pages, modes, groups, recommendations, tenants, several collections)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.api.schemas.queries import FanoutSearchRequest, SearchRequest, SearchResponse
from mmsearch.api.services.query import QueryStores
from mmsearch.api.services.search import fanout, search
from mmsearch.encoders import Encoder
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.errors import BadFilter, InvalidRequest, ItemNotFound, TooLarge
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import IMAGE_VECTOR, TEXT_VECTOR, CollectionSpec, EdgeVectorStore, Hit
from tests.unit.services.conftest import (
    OTHER_MODEL,
    AddPhotos,
    MakeCollection,
    RecordingLoader,
    decoded,
    index_items,
)

QUERY = "a picture of shapes"
EVEN = {"must": [{"key": "metadata.parity", "match": {"value": "even"}}]}  # as stored
OF_A = {"must": [{"key": "tenant", "match": {"value": "a"}}]}

Run = Any  # run(body, tenant=None, uploads=None) -> SearchResponse


@pytest.fixture()
def indexed(add_photos: AddPhotos, photos: CollectionSpec) -> CollectionSpec:
    """Items p0..p9 with captions, and p20..p24 of tenant `a`."""
    add_photos(range(10), captions=True)
    add_photos(range(20, 25), tenant="a", captions=True)
    return photos


@pytest.fixture()
def run(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    settings: Settings,
    indexed: CollectionSpec,
) -> Run:
    def call(
        body: dict[str, Any],
        tenant: str | None = None,
        uploads: dict[str, bytes] | None = None,
        limits: Settings = settings,
    ) -> SearchResponse:
        request = SearchRequest.model_validate(body)
        stores = QueryStores(vectors, load, texts, objects, limits)
        return search(stores, "photos", request, uploads or {}, tenant)

    return call


def ranked(response: SearchResponse) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in response.results]


def expected(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(hit.payload["id"], hit.score) for hit in hits]


def same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_text_query_ranks_like_the_encoder_and_store(
    run: Run, vectors: EdgeVectorStore, encoder: Encoder, texts: TextQueryCache, file_root: Path
) -> None:
    response = run({"text": QUERY, "limit": 8})
    want = vectors.search("photos", encoder.embed_texts([QUERY])[0], limit=8)
    same(ranked(response), expected(want))
    top = response.results[0]
    n = int(top.id.removeprefix("p"))
    assert top.uri == f"file://{file_root}/p{n}.jpg" and top.metadata["n"] == n
    assert top.text == f"generated picture number {n}"
    assert (texts.hits, texts.misses) == (0, 1)
    same(ranked(run({"text": QUERY, "limit": 8})), ranked(response))
    assert (texts.hits, texts.misses) == (1, 1)  # the second time from the cache


def test_image_queries_by_reference_upload_and_base64(
    run: Run, vectors: EdgeVectorStore, encoder: Encoder, file_root: Path
) -> None:
    data = (file_root / "p3.jpg").read_bytes()
    want = expected(vectors.search("photos", encoder.embed_images([decoded(data)])[0]))
    assert want[0][0] == "p3" and want[0][1] > 0.999
    same(ranked(run({"image": {"uri": f"file://{file_root}/p3.jpg"}})), want)
    same(ranked(run({"image": {"upload": "photo"}}, uploads={"photo": data})), want)
    same(ranked(run({"image": {"base64": base64.b64encode(data).decode()}})), want)


def test_bad_query_images_are_refused(run: Run, settings: Settings, file_root: Path) -> None:
    data = (file_root / "p3.jpg").read_bytes()
    small = settings.model_copy(update={"max_image_bytes": len(data) - 1})
    with pytest.raises(TooLarge):
        run({"image": {"upload": "photo"}}, uploads={"photo": data}, limits=small)
    with pytest.raises(InvalidRequest) as missing:
        run({"image": {"upload": "other"}}, uploads={"photo": data})
    assert missing.value.code == "no_upload"
    with pytest.raises(InvalidRequest) as garbled:
        run({"image": {"base64": "not base64!"}})
    assert garbled.value.code == "invalid_base64"


def test_a_weighted_mix_is_the_normalised_sum_of_its_terms(
    run: Run, vectors: EdgeVectorStore, encoder: Encoder, indexed: CollectionSpec, file_root: Path
) -> None:
    [stored] = vectors.retrieve("photos", [item_point_id(indexed, "p4")], with_vectors=True)
    image = encoder.embed_images([decoded((file_root / "p7.jpg").read_bytes())])[0]
    mix = unit(2.0 * encoder.embed_texts([QUERY])[0] - 0.5 * stored.vectors[IMAGE_VECTOR] + image)
    query = [
        {"text": QUERY, "weight": 2.0},
        {"item_id": "p4", "weight": -0.5},
        {"image": {"uri": f"file://{file_root}/p7.jpg"}},
    ]
    same(ranked(run({"query": query})), expected(vectors.search("photos", mix)))
    with pytest.raises(InvalidRequest) as cancelled:
        run({"query": [{"item_id": "p4"}, {"item_id": "p4", "weight": -1.0}]})
    assert cancelled.value.code == "empty_query"


def test_stored_item_queries_use_the_stored_vector(
    run: Run, vectors: EdgeVectorStore, indexed: CollectionSpec
) -> None:
    [stored] = vectors.retrieve("photos", [item_point_id(indexed, "p5")], with_vectors=True)
    want = expected(vectors.search("photos", stored.vectors[IMAGE_VECTOR]))
    same(ranked(run({"item_id": "p5"})), want)
    with pytest.raises(ItemNotFound):
        run({"item_id": "p99"})


def test_filters_and_pages_match_the_store(
    run: Run, vectors: EdgeVectorStore, encoder: Encoder
) -> None:
    vector = encoder.embed_texts([QUERY])[0]
    even = {"must": [{"key": "parity", "match": {"value": "even"}}]}
    full = ranked(run({"text": QUERY, "filter": even, "limit": 9}))
    assert len(full) == 8 and all(int(i.removeprefix("p")) % 2 == 0 for i, _ in full)
    same(full, expected(vectors.search("photos", vector, filter=EVEN, limit=9)))
    pages = [
        ranked(run({"text": QUERY, "filter": even, "limit": 3, "offset": o})) for o in (0, 3, 6)
    ]
    same([hit for page in pages for hit in page], full)
    cut = (full[3][1] + full[4][1]) / 2
    above = ranked(run({"text": QUERY, "filter": even, "score_threshold": cut}))
    same(above, full[:4])
    with pytest.raises(BadFilter):
        run({"text": QUERY, "filter": {"must": [{"key": "parity", "nonsense": 1}]}})


def test_text_and_hybrid_modes_and_groups(
    run: Run, vectors: EdgeVectorStore, encoder: Encoder
) -> None:
    vector = encoder.embed_texts([QUERY])[0]
    captions = vectors.search("photos", vector, using=TEXT_VECTOR)
    same(ranked(run({"text": QUERY, "mode": "text"})), expected(captions))
    both = {IMAGE_VECTOR: vector, TEXT_VECTOR: vector}
    fused = vectors.search_hybrid("photos", both, keyword=QUERY, limit=5)
    same(ranked(run({"text": QUERY, "mode": "hybrid", "limit": 5})), expected(fused))
    weights = {"image": 0.5, "text": 2.0, "keyword": 0.0}
    dense = vectors.search_hybrid("photos", both, weights={"image": 0.5, "text": 2.0}, limit=5)
    body = {"text": QUERY, "mode": "hybrid", "limit": 5, "weights": weights}
    same(ranked(run(body)), expected(dense))
    words = vectors.search_keyword("photos", "picture number 3", limit=5)
    assert [h.payload["id"] for h in words][0] == "p3"
    same(ranked(run({"text": "picture number 3", "mode": "keyword", "limit": 5})), expected(words))
    grouped = run({"text": QUERY, "group_by": "parity", "group_size": 2, "limit": 2}).groups
    want = vectors.search_groups(
        "photos", vector, group_by="metadata.parity", group_size=2, limit=2
    )
    assert [g.key for g in grouped] == [g.key for g in want]
    for got, group in zip(grouped, want, strict=True):
        same([(h.id, h.score) for h in got.results], expected(group.hits))


def test_a_tenant_searches_and_recommends_among_its_own_items(
    run: Run, vectors: EdgeVectorStore, encoder: Encoder, indexed: CollectionSpec
) -> None:
    vector = encoder.embed_texts([QUERY])[0]
    own = ranked(run({"text": QUERY, "limit": 20}, tenant="a"))
    same(own, expected(vectors.search("photos", vector, filter=OF_A, limit=20)))
    assert sorted(i for i, _ in own) == [f"p{n}" for n in range(20, 25)]
    assert run({"text": QUERY}, tenant="b").results == []
    assert {i for i, _ in ranked(run({"item_id": "p21"}, tenant="a"))} <= {i for i, _ in own}
    with pytest.raises(ItemNotFound):
        run({"item_id": "p21"}, tenant="b")
    liked = vectors.recommend(
        "photos", [item_point_id(indexed, "p20", "a")], [], filter=OF_A, limit=10
    )
    recommended = ranked(run({"recommend": {"positive": ["p20"]}}, tenant="a"))
    same(recommended, expected(liked))
    assert "p20" not in {i for i, _ in recommended} and len(recommended) == 4


def test_fanout_merges_collections_of_one_model_by_score(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    settings: Settings,
    encoder: Encoder,
    indexed: CollectionSpec,
    make_collection: MakeCollection,
    file_root: Path,
) -> None:
    index_items(vectors, encoder, make_collection("more"), file_root, range(30, 36))
    body = FanoutSearchRequest(collections=["photos", "more"], text=QUERY, limit=6, offset=2)
    got = fanout(QueryStores(vectors, load, texts, objects, settings), body, {})
    vector = encoder.embed_texts([QUERY])[0]
    merged = [
        (hit, name) for name in ("photos", "more") for hit in vectors.search(name, vector, limit=8)
    ]
    merged.sort(key=lambda pair: (-pair[0].score, pair[1], pair[0].id))
    assert [h.collection for h in got.results] == [name for _, name in merged[2:8]]
    same(ranked(got), expected([hit for hit, _ in merged[2:8]]))
    assert {h.collection for h in got.results} == {"photos", "more"}

    make_collection("other", OTHER_MODEL)
    mixed = FanoutSearchRequest(collections=["photos", "other"], text=QUERY)
    with pytest.raises(InvalidRequest) as refused:
        fanout(QueryStores(vectors, load, texts, objects, settings), mixed, {})
    assert refused.value.code == "model_mismatch"


def test_deep_pages_concatenated_are_the_first_results_of_one_query(
    run: Run, vectors: EdgeVectorStore, indexed: CollectionSpec, encoder: Encoder
) -> None:
    """500 results paged by 50 in every mode, with and without a filter, and grouped results
    paged by 7 groups: each concatenation equals one query for the same depth."""
    from mmsearch.infra.catalog.payload import ItemPayload
    from mmsearch.infra.vectors import VectorPoint

    rng = np.random.default_rng(7)
    rows = rng.standard_normal((600, 2, encoder.dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=2, keepdims=True)
    points = []
    for n, (image, text) in enumerate(rows):
        item_id = f"d{n:03d}"
        metadata = {"parity": ["even", "odd"][n % 2], "album": f"a{n % 40:02d}"}
        payload = ItemPayload(f"s3://deep/{item_id}.jpg", item_id, metadata, f"caption {n}")
        point = VectorPoint(item_point_id(indexed, item_id), {"image": image, "text": text}, {})
        points.append(VectorPoint(point.id, point.vectors, payload.to_payload()))
    vectors.upsert("photos", points)
    even = {"must": [{"key": "parity", "match": {"value": "even"}}]}
    for mode in ("image", "text", "hybrid"):
        for flt in (None, even):
            body = {"text": QUERY, "mode": mode, "filter": flt}
            depth = 300 if flt else 500
            whole = ranked(run({**body, "limit": depth}))
            assert len(whole) == depth
            pages = [ranked(run({**body, "limit": 50, "offset": o})) for o in range(0, depth, 50)]
            assert [hit for page in pages for hit in page] == whole, (mode, flt)
    grouped = {"text": QUERY, "group_by": "album", "group_size": 3}
    every = run({**grouped, "limit": 35}).groups
    assert every is not None and len(every) == 35
    paged = [run({**grouped, "limit": 7, "offset": o}).groups or [] for o in range(0, 35, 7)]
    flat = [group for page in paged for group in page]
    assert [(g.key, [h.id for h in g.results]) for g in flat] == [
        (g.key, [h.id for h in g.results]) for g in every
    ]
    with pytest.raises(ValueError, match="offset \\+ limit"):
        run({**grouped, "limit": 1000, "offset": 9001})
