"""S3 → job → Celery worker → embeddings → embedded Qdrant → search, checked against the encoder."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.testing.photos import Photo, generated_photos
from mmsearch.infra.testing.platform import Platform
from mmsearch.infra.vectors.keywords import document_vector, query_vector
from mmsearch.infra.vectors.types import KeywordConfig
from tests.fixtures.images import flickr_photos
from tests.fixtures.platform import new_collection, unique_name
from tests.fixtures.ranking import brute_force
from tests.fixtures.s3 import upload_bucket

QUERIES = ["a dog running on the grass", "children playing in the water", "a man on a bike"]


def run_flow(platform: Platform, s3_client: Any, model: str, photos: list[Photo]) -> None:
    bucket = upload_bucket(s3_client, photos, prefix="set/", label="photos")
    name = unique_name("e2e")
    created = platform.create_collection(
        name, model, payload_schema={"split": "keyword", "index": "integer"}
    )
    assert created["count"] == 0 and created["random_weights"] is True
    items = [
        {
            "uri": f"s3://{bucket}/set/{p.name}",
            "id": p.name,
            "text": p.caption,
            "metadata": {
                "caption": p.caption,
                "split": "even" if i % 2 == 0 else "odd",
                "index": i,
            },
        }
        for i, p in enumerate(photos)
    ]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert job["status"] == "succeeded", job
    assert (job["succeeded"], job["failed"], job["pending"]) == (len(photos), 0, 0)
    info = platform.request("GET", f"/v1/collections/{name}").json()
    assert info["count"] == len({p.name for p in photos})

    for text in QUERIES:
        got = platform.search(name, {"text": text, "limit": 10})["results"]
        want = brute_force(model, photos, text, list(range(len(photos))))[:10]
        assert [hit["id"] for hit in got] == [w[0] for w in want]
        np.testing.assert_allclose([h["score"] for h in got], [w[1] for w in want], atol=1e-4)
        first = got[0]
        assert first["uri"].startswith(f"s3://{bucket}/set/") and first["text"]

    even_filter = {"must": [{"key": "split", "match": {"value": "even"}}]}
    got = platform.search(name, {"text": QUERIES[0], "limit": 10, "filter": even_filter})["results"]
    assert got and all(hit["metadata"]["split"] == "even" for hit in got)
    want = brute_force(model, photos, QUERIES[0], list(range(0, len(photos), 2)))[:10]
    assert [hit["id"] for hit in got] == [w[0] for w in want]
    ranged = {"must": [{"key": "index", "range": {"gte": 10, "lt": 20}}]}
    got = platform.search(name, {"text": QUERIES[1], "limit": 50, "filter": ranged})["results"]
    assert sorted(hit["metadata"]["index"] for hit in got) == list(range(10, 20))

    # keyword search: a rare caption word finds exactly the photos whose caption holds it
    rare = rare_words(photos)
    assert rare or len(photos) < 1000, "the Flickr captions hold rare words"
    for word, holders in rare.items():
        got = platform.search(name, {"text": word, "mode": "keyword", "limit": 10})["results"]
        assert sorted(hit["id"] for hit in got) == sorted(holders), word
        assert all(word in hit["text"].lower() for hit in got)

    again = platform.wait_job(platform.ingest(name, {"items": items}))
    assert again["status"] == "succeeded"
    info = platform.request("GET", f"/v1/collections/{name}").json()
    assert info["count"] == len(photos)


def rare_words(photos: list[Photo], most: int = 5) -> dict[str, list[str]]:
    """Up to 8 words in 1 to `most` captions, by plain whole-word matching, whose stem no other
    caption holds in another form (so the word's holders are the photos to find)."""
    holders: dict[str, set[str]] = {}
    for photo in photos:
        for word in set(re.findall(r"[a-z]{6,}", photo.caption.lower())):
            holders.setdefault(word, set()).add(photo.name)
    words = KeywordConfig(fields=("text",))
    terms = {p.name: set(document_vector(words, {"text": p.caption}).indices) for p in photos}
    found = {}
    for word, names in sorted(holders.items()):
        if len(names) > most:
            continue
        term = set(query_vector(words, word).indices)
        by_stem = {name for name, held in terms.items() if term & held}
        if term and by_stem == names:
            found[word] = sorted(names)
        if len(found) == 8:
            break
    return found


@pytest.mark.slow
def test_flickr_end_to_end(platform: Platform, s3_client: Any, tiny_model: str) -> None:
    run_flow(platform, s3_client, tiny_model, flickr_photos(1000))


def test_generated_end_to_end(platform: Platform, s3_client: Any, tiny_model: str) -> None:
    run_flow(platform, s3_client, tiny_model, generated_photos(60))


@pytest.mark.parametrize("page", [0, 5])
def test_offset_pages_through_the_same_ranking(
    platform: Platform, s3_client: Any, tiny_model: str, page: int
) -> None:
    photos = generated_photos(30)
    bucket = upload_bucket(s3_client, photos, prefix="set/", label="photos")
    name = new_collection(platform, "pages", tiny_model)
    items = [{"uri": f"s3://{bucket}/set/{p.name}", "id": p.name} for p in photos]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"
    full = platform.search(name, {"text": "red circle", "limit": 30})["results"]
    part = platform.search(name, {"text": "red circle", "limit": 5, "offset": page})["results"]
    assert [h["id"] for h in part] == [h["id"] for h in full[page : page + 5]]
