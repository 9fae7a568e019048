"""Every query kind, checked against rankings computed directly with the same encoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from mmsearch.encoders import get_encoder
from mmsearch.infra.testing.photos import Photo, decode, real_or_generated
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection, unique_name
from tests.fixtures.ranking import ranking
from tests.fixtures.s3 import upload_bucket

N = 40


@dataclass
class Gallery:
    name: str
    bucket: str
    photos: list[Photo]
    images: np.ndarray  # (N, dim) image vectors computed directly
    captions: dict[int, np.ndarray]  # row → caption vector, for captioned rows only

    def uri(self, i: int) -> str:
        return f"s3://{self.bucket}/{self.photos[i].name}"


@pytest.fixture(scope="module")
def gallery(platform: Platform, s3_client: Any, tiny_model: str) -> Gallery:
    photos, _ = real_or_generated(N)
    bucket = upload_bucket(s3_client, photos, label="gal")
    name = new_collection(platform, "gal", tiny_model, payload_schema={"album": "keyword"})
    items = [
        {
            "uri": f"s3://{bucket}/{p.name}",
            "id": p.name,
            "metadata": {"album": f"a{i % 4}", "year": 2000 + i},
            **({"text": p.caption} if i % 2 == 0 else {}),
        }
        for i, p in enumerate(photos)
    ]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"
    encoder = get_encoder(tiny_model)
    images = encoder.embed_images([decode(p.data) for p in photos])
    captioned = list(range(0, N, 2))
    texts = encoder.embed_texts([photos[i].caption for i in captioned])
    return Gallery(name, bucket, photos, images, dict(zip(captioned, texts, strict=True)))


def ids(results: list[dict[str, Any]]) -> list[str]:
    return [hit["id"] for hit in results]


def test_image_upload_and_stored_item_queries(platform: Platform, gallery: Gallery) -> None:
    names = [p.name for p in gallery.photos]
    photo = gallery.photos[3]
    files = {"image": (photo.name, photo.data, "image/jpeg")}
    response = platform.request("POST", f"/v1/collections/{gallery.name}/search", files=files)
    assert response.status_code == 200, response.text
    want = ranking(gallery.images @ gallery.images[3], names)[:10]
    assert ids(response.json()["results"]) == want
    by_item = platform.search(gallery.name, {"item_id": photo.name, "limit": 10})["results"]
    assert ids(by_item) == want and by_item[0]["score"] == pytest.approx(1.0, abs=1e-4)
    missing = platform.request(
        "POST", f"/v1/collections/{gallery.name}/search", json={"item_id": "nope.jpg"}
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "item_not_found"


def test_weighted_multimodal_query(platform: Platform, gallery: Gallery, tiny_model: str) -> None:
    encoder = get_encoder(tiny_model)
    a, b = encoder.embed_texts(["a dog in the snow", "a crowded street"])
    combined = 1.0 * a + 0.7 * gallery.images[5] - 0.5 * b
    combined /= np.linalg.norm(combined)
    query = [
        {"text": "a dog in the snow", "weight": 1.0},
        {"image": {"uri": gallery.uri(5)}, "weight": 0.7},
        {"text": "a crowded street", "weight": -0.5},
    ]
    got = platform.search(gallery.name, {"query": query, "limit": 10})["results"]
    scores = gallery.images @ combined
    assert ids(got) == ranking(scores, [p.name for p in gallery.photos])[:10]
    np.testing.assert_allclose([h["score"] for h in got], np.sort(scores)[::-1][:10], atol=1e-4)


def test_caption_and_hybrid_modes(platform: Platform, gallery: Gallery, tiny_model: str) -> None:
    names = [p.name for p in gallery.photos]
    query_text = "two people walking"
    q = get_encoder(tiny_model).embed_texts([query_text])[0]
    caption_scores = np.full(N, -np.inf)
    for row, vector in gallery.captions.items():
        caption_scores[row] = float(vector @ q)
    body = {"text": query_text, "limit": N}
    by_text = platform.search(gallery.name, {**body, "mode": "text"})["results"]
    assert ids(by_text) == ranking(caption_scores, names, list(gallery.captions))
    by_image = platform.search(gallery.name, body)["results"]
    assert len(by_image) == N  # uncaptioned items are still found by image

    image_rank = ranking(gallery.images @ q, names)
    text_rank = ranking(caption_scores, names, list(gallery.captions))
    # the keyword ranking (BM25, checked by hand in tests/unit/test_keyword_search.py): only
    # captions sharing a word with the query; hits of equal score share their mean rank
    words = platform.search(gallery.name, {**body, "mode": "keyword"})["results"]
    assert 0 < len(words) <= len(gallery.captions)
    keyword_rank = {
        h["id"]: sum(1 for o in words if o["score"] > h["score"])
        + (sum(1 for o in words if o["score"] == h["score"]) - 1) / 2
        for h in words
    }
    for weights in ({}, {"image": 0.5, "text": 1.0, "keyword": 3.0}, {"keyword": 0.0}):
        hybrid = platform.search(gallery.name, {**body, "mode": "hybrid", "weights": weights})
        fused = {n: 0.0 for n in names}
        rankings = {
            "image": {name: rank for rank, name in enumerate(image_rank)},
            "text": {name: rank for rank, name in enumerate(text_rank)},
            "keyword": keyword_rank,
        }
        for kind, ranks in rankings.items():
            w = weights.get(kind, 1.0)
            for name, rank in (ranks if w else {}).items():
                # Qdrant's weighted RRF: 1 / ((rank + 1) / w + k - 1), k = 2, rank from 0
                fused[name] += 1.0 / ((rank + 1) / w + 1)
        want = sorted(names, key=lambda n: -fused[n])
        got = hybrid["results"]
        assert set(ids(got)) == set(names)
        np.testing.assert_allclose([h["score"] for h in got], [fused[n] for n in want], atol=1e-9)
        assert ids(got)[:3] == want[:3]


def test_recommend_and_group_by(platform: Platform, gallery: Gallery) -> None:
    names = [p.name for p in gallery.photos]
    pos, neg = [0, 1], [2]
    mean_pos = gallery.images[pos].mean(axis=0)
    target = 2 * mean_pos - gallery.images[neg].mean(axis=0)  # Qdrant's average_vector
    recommend = {"positive": [names[i] for i in pos], "negative": [names[i] for i in neg]}
    got = platform.search(gallery.name, {"recommend": recommend, "limit": 10})["results"]
    unit = target / np.linalg.norm(target)
    keep = [i for i in range(N) if i not in pos + neg]
    assert ids(got) == ranking(gallery.images @ unit, names, keep)[:10]

    q = gallery.images[7]
    grouped = platform.search(
        gallery.name, {"item_id": names[7], "group_by": "album", "group_size": 2, "limit": 3}
    )
    scores = gallery.images @ q
    best: dict[str, list[str]] = {}
    for name in ranking(scores, names):
        album = f"a{names.index(name) % 4}"
        best.setdefault(album, [])
        if len(best[album]) < 2:
            best[album].append(name)
    order = sorted(best, key=lambda album: -scores[names.index(best[album][0])])[:3]
    assert [g["key"] for g in grouped["groups"]] == order
    assert [ids(g["results"]) for g in grouped["groups"]] == [best[a] for a in order]


def test_fanout_equals_search_over_the_union(
    platform: Platform, gallery: Gallery, tiny_model: str
) -> None:
    halves = [unique_name("fan"), unique_name("fan")]
    for half, rows in zip(halves, (range(0, N, 2), range(1, N, 2)), strict=True):
        platform.create_collection(half, tiny_model)
        items = [{"uri": gallery.uri(i), "id": gallery.photos[i].name} for i in rows]
        assert platform.wait_job(platform.ingest(half, {"items": items}))["status"] == "succeeded"
    body = {"text": "a child playing", "limit": 12, "offset": 3}
    union = platform.search(gallery.name, body)["results"]
    response = platform.request("POST", "/v1/search", json={**body, "collections": halves})
    assert response.status_code == 200, response.text
    fanned = response.json()["results"]
    assert ids(fanned) == ids(union)
    np.testing.assert_allclose([h["score"] for h in fanned], [h["score"] for h in union], atol=1e-5)
    assert {h["collection"] for h in fanned} <= set(halves)

    other = new_collection(platform, "fan", "mmsearch-tiny/random:3")
    mixed = platform.request(
        "POST", "/v1/search", json={"text": "x", "collections": [halves[0], other]}
    )
    assert mixed.status_code == 422 and mixed.json()["error"]["code"] == "model_mismatch"
