"""Model migration: re-embed into a new version, switch the alias only when it is complete."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from mmsearch.encoders import get_encoder
from mmsearch.infra.jobs.store import FINAL_STATUSES
from mmsearch.infra.testing.photos import decode, real_or_generated
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

N = 70
NEW_MODEL = "hf:tiny-clip/random:5"  # across backends, and to another dimension
EXTRA = 6
NEW_INDEX = {"hnsw_ef": 256}  # and the other index settings at their defaults


@pytest.mark.slow
def test_reembed_switches_only_when_complete(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    pics, _ = real_or_generated(N + EXTRA)
    bucket = upload_bucket(s3_client, pics, label="mig")
    name = new_collection(
        platform, "mig", tiny_model, payload_schema={"album": "keyword"}, keyword=None
    )
    items = [
        {
            "uri": f"s3://{bucket}/{p.name}",
            "id": p.name,
            "text": p.caption,
            "metadata": {"album": f"a{i % 3}"},
        }
        for i, p in enumerate(pics)
    ]
    late, items = items[N:], items[:N]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"

    assert platform.request("GET", f"/v1/collections/{name}").json()["index"]["hnsw_ef"] == 512
    response = platform.request(
        "POST", f"/v1/collections/{name}/reembed", json={"model": NEW_MODEL, "index": NEW_INDEX}
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["collection"] == f"{name}--v2"
    late_job = platform.ingest(name, {"items": late})  # written to both versions
    again = platform.request("POST", f"/v1/collections/{name}/reembed", json={"model": NEW_MODEL})
    assert again.status_code == 409 and again.json()["error"]["code"] == "reembed_running"
    seen_models = set()
    deadline = time.monotonic() + 120
    while True:
        info = platform.request("GET", f"/v1/collections/{name}").json()
        seen_models.add(info["model"])
        hits = platform.search(name, {"text": "a dog", "limit": 100})["results"]
        assert len(hits) >= N and info["count"] >= N  # never a half-built version
        job = platform.request("GET", f"/v1/jobs/{accepted['job_id']}").json()
        if job["status"] in FINAL_STATUSES or time.monotonic() > deadline:
            break
    assert job["status"] == "succeeded" and job["succeeded"] == job["total"] >= N
    assert platform.wait_job(late_job)["status"] == "succeeded"
    info = platform.request("GET", f"/v1/collections/{name}").json()
    assert (info["version"], info["model"], info["count"]) == (f"{name}--v2", NEW_MODEL, N + EXTRA)
    assert seen_models <= {tiny_model, NEW_MODEL}
    assert info["index"]["hnsw_ef"] == NEW_INDEX["hnsw_ef"] and info["index"]["m"] == 32

    encoder = get_encoder(NEW_MODEL)
    images = encoder.embed_images([decode(p.data) for p in pics])
    query = encoder.embed_texts(["a dog"])[0]
    got = platform.search(name, {"text": "a dog", "limit": 10})["results"]
    scores = images @ query
    want = sorted(range(N + EXTRA), key=lambda i: (-scores[i], pics[i].name))[:10]
    assert [h["id"] for h in got] == [pics[i].name for i in want]
    np.testing.assert_allclose([h["score"] for h in got], scores[want], atol=1e-4)
    item = platform.request("GET", f"/v1/collections/{name}/items/{pics[4].name}").json()
    assert item["metadata"] == {"album": "a1"} and item["text"] == pics[4].caption
    assert item["vectors"] == ["image", "text"]
    # the new version has the keyword index the old one lacked, filled by the copy
    assert info["keyword"] == {
        "language": "english",
        "avg_len": 16.0,
        "fields": ["text"],
        "ready": True,
    }
    word = max(pics[4].caption.split(), key=len)
    found = platform.search(name, {"text": word, "mode": "keyword", "limit": 100})["results"]
    assert found and pics[4].name in {h["id"] for h in found}
    flt = {"must": [{"key": "album", "match": {"value": "a0"}}]}
    in_a0 = len([i for i in range(N + EXTRA) if i % 3 == 0])
    assert (
        len(platform.search(name, {"text": "x", "limit": 100, "filter": flt})["results"]) == in_a0
    )

    versions = platform.request("GET", f"/v1/collections/{name}/versions").json()["data"]
    assert [(v["version"], v["active"], v["model"]) for v in versions] == [
        (f"{name}--v1", False, tiny_model),
        (f"{name}--v2", True, NEW_MODEL),
    ]
    active = platform.request("DELETE", f"/v1/collections/{name}--v2")
    assert active.status_code == 409
    assert platform.request("DELETE", f"/v1/collections/{name}--v1").status_code == 200
    listed = platform.request("GET", "/v1/collections").json()["data"]
    assert [c["version"] for c in listed if c["name"] == name] == [f"{name}--v2"]
