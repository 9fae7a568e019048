"""Item lifecycle, zero-shot labels, and near-duplicates on real resized/re-encoded copies."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from mmsearch.encoders import get_encoder
from mmsearch.infra.testing.photos import Photo, decode, real_or_generated
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

LABELS = ["dog", "beach", "street", "child", "mountain", "bicycle"]


def near_copy(data: bytes) -> bytes:
    """A resized, re-encoded copy: the same picture as other bytes."""
    image = decode(data)
    smaller = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))
    out = io.BytesIO()
    smaller.save(out, format="JPEG", quality=70)
    return out.getvalue()


def softmax_probs(model: str, image: np.ndarray, template: str = "a photo of {}") -> np.ndarray:
    encoder = get_encoder(model)
    labels = encoder.embed_texts([template.replace("{}", label) for label in LABELS])
    logits = encoder.logit_scale * (labels @ image)
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def test_item_lifecycle(platform: Platform, s3_client: Any, tiny_model: str) -> None:
    pics, _ = real_or_generated(6)
    bucket = upload_bucket(s3_client, pics, label="items")
    name = new_collection(platform, "life", tiny_model, payload_schema={"album": "keyword"})
    items = [
        {
            "uri": f"s3://{bucket}/{p.name}",
            "id": f"item/{i}",
            "text": p.caption,
            "metadata": {"album": "a" if i < 3 else "b", "stars": i},
        }
        for i, p in enumerate(pics)
    ]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"
    base = f"/v1/collections/{name}/items"

    item = platform.request("GET", f"{base}/item/0").json()
    assert item["metadata"] == {"album": "a", "stars": 0} and item["vectors"] == ["image", "text"]
    patched = platform.request("PATCH", f"{base}/item/0", json={"metadata": {"stars": 5}}).json()
    assert patched["metadata"] == {"album": "a", "stars": 5}
    replaced = platform.request(
        "PATCH", f"{base}/item/0", json={"metadata": {"album": "b"}, "replace": True}
    ).json()
    assert replaced["metadata"] == {"album": "b"}
    flt = {"must": [{"key": "album", "match": {"value": "b"}}]}
    hits = platform.search(name, {"text": "x", "limit": 10, "filter": flt})["results"]
    assert sorted(h["id"] for h in hits) == ["item/0", "item/3", "item/4", "item/5"]

    assert platform.request("DELETE", f"{base}/item/1").json() == {"deleted": 1}
    gone = platform.request("GET", f"{base}/item/1")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "item_not_found"
    assert platform.request("DELETE", f"{base}/item/1").status_code == 404
    by_ids = platform.request(
        "POST", f"/v1/collections/{name}/items:delete", json={"ids": ["item/2", "item/1", "zz"]}
    )
    assert by_ids.json() == {"deleted": 1}
    by_filter = platform.request(
        "POST", f"/v1/collections/{name}/items:delete", json={"filter": flt}
    )
    assert by_filter.json() == {"deleted": 4}
    assert platform.request("GET", f"/v1/collections/{name}").json()["count"] == 0


def test_classify_and_auto_labels(platform: Platform, s3_client: Any, tiny_model: str) -> None:
    pics, _ = real_or_generated(8)
    bucket = upload_bucket(s3_client, pics, label="items")
    encoder = get_encoder(tiny_model)
    image = encoder.embed_images([decode(pics[0].data)])[0]

    response = platform.request(
        "POST",
        "/v1/classify",
        json={
            "model": tiny_model,
            "image": {"uri": f"s3://{bucket}/{pics[0].name}"},
            "labels": LABELS,
        },
    )
    assert response.status_code == 200, response.text
    got = {entry["label"]: entry["probability"] for entry in response.json()["labels"]}
    want = softmax_probs(tiny_model, image)
    np.testing.assert_allclose([got[label] for label in LABELS], want, atol=1e-4)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-5)

    name = new_collection(platform, "labels", tiny_model, payload_schema={"labels": "keyword"})
    body = {
        "items": [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in pics],
        "auto_labels": {"labels": LABELS, "top_k": 2},
    }
    assert platform.wait_job(platform.ingest(name, body))["status"] == "succeeded"
    vectors = encoder.embed_images([decode(p.data) for p in pics])
    expected = {}
    for photo, vector in zip(pics, vectors, strict=True):
        probs = softmax_probs(tiny_model, vector)
        expected[photo.name] = [LABELS[j] for j in np.argsort(-probs, kind="stable")[:2]]
        item = platform.request("GET", f"/v1/collections/{name}/items/{photo.name}").json()
        assert item["metadata"]["labels"] == expected[photo.name]
    label = expected[pics[0].name][0]
    flt = {"must": [{"key": "labels", "match": {"any": [label]}}]}
    hits = platform.search(name, {"text": "x", "limit": 50, "filter": flt})["results"]
    assert sorted(h["id"] for h in hits) == sorted(n for n, ls in expected.items() if label in ls)


def duplicate_threshold(model: str, originals: list[bytes], copies: list[bytes]) -> float:
    """A threshold between the closest distinct pair and the farthest copy, from the encoder."""
    encoder = get_encoder(model)
    a = encoder.embed_images([decode(d) for d in originals])
    c = encoder.embed_images([decode(d) for d in copies])
    distinct = a @ a.T
    np.fill_diagonal(distinct, -1.0)
    copy_min = float((a[: len(c)] * c).sum(axis=1).min())
    assert distinct.max() < copy_min, "test images do not separate copies from distinct photos"
    return (float(distinct.max()) + copy_min) / 2


def test_duplicates_and_dedup_at_ingest(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    pics, _ = real_or_generated(16)
    copies = [Photo(f"copy-{p.name}", near_copy(p.data), p.caption) for p in pics[:4]]
    threshold = duplicate_threshold(tiny_model, [p.data for p in pics], [c.data for c in copies])
    bucket = upload_bucket(s3_client, pics + copies, label="items")
    name = new_collection(platform, "dups", tiny_model)
    keys = [p.name for p in pics + copies]
    items = [{"uri": f"s3://{bucket}/{k}", "id": k} for k in keys]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"

    response = platform.request(
        "POST", f"/v1/collections/{name}/duplicates", json={"threshold": threshold}
    )
    assert response.status_code == 200, response.text
    groups = response.json()["groups"]
    assert response.json()["scanned"] == len(keys)
    assert sorted(sorted(i["id"] for i in g["items"]) for g in groups) == sorted(
        sorted([p.name, f"copy-{p.name}"]) for p in pics[:4]
    )
    assert all(i["score"] >= threshold for g in groups for i in g["items"])

    deduped = new_collection(platform, "dedup", tiny_model)
    originals = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in pics]
    assert platform.wait_job(platform.ingest(deduped, {"items": originals}))["succeeded"] == 16
    body = {"items": items[-4:] + originals[:2], "dedup_threshold": threshold}
    job = platform.wait_job(platform.ingest(deduped, body))
    assert (job["status"], job["succeeded"], job["skipped"], job["failed"]) == (
        "succeeded",
        2,
        4,
        0,
    )
    assert {e["id"] for e in job["errors"]} == {c.name for c in copies}
    assert {e["code"] for e in job["errors"]} == {"skipped_duplicate"}
    assert platform.request("GET", f"/v1/collections/{deduped}").json()["count"] == 16
