"""Re-ranking on the running platform: images read from S3 by the API, scored by the matching
model; the answer equals the model called directly on the same candidates."""

from __future__ import annotations

from typing import Any

import pytest

from mmsearch.encoders.rerankers import get_reranker
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

TINY = "itm:tiny-blip/random"
QUERY = "generated picture number 7"


def test_rerank_over_s3_images(platform: Platform, s3_client: Any, tiny_model: str) -> None:
    photos = generated_photos(16)
    bucket = upload_bucket(s3_client, photos, label="rr")
    name = new_collection(platform, "rr", tiny_model, rerank={"model": TINY, "top_k": 10})
    items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name, "text": p.caption} for p in photos]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"

    plain = platform.search(name, {"text": QUERY, "limit": 10, "rerank": False})["results"]
    assert all("rerank_score" not in hit for hit in plain)
    matcher = get_reranker(TINY)
    data = {p.name: p.data for p in photos}
    images = [
        decode_image(data[h["id"]], max_pixels=64_000_000, min_side=matcher.image_side)
        for h in plain
    ]
    scores = matcher.score(QUERY, images)
    want = sorted(range(10), key=lambda i: (-scores[i], i))

    response = platform.request(
        "POST", f"/v1/collections/{name}/search", json={"text": QUERY, "limit": 10}
    )
    assert response.status_code == 200, response.text
    assert "rerank;dur=" in response.headers["Server-Timing"]
    got = response.json()["results"]
    assert [h["id"] for h in got] == [plain[i]["id"] for i in want]
    assert [h["rerank_score"] for h in got] == pytest.approx([scores[i] for i in want], abs=1e-5)
    info = platform.expect(200, "GET", f"/v1/collections/{name}")
    assert info["rerank"] == {"model": TINY, "top_k": 10}

    refused = platform.request(
        "POST",
        f"/v1/collections/{name}/search",
        json={"text": QUERY, "rerank": {"model": "itm:Salesforce/blip-itm-large-coco"}},
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "model_not_allowed"
