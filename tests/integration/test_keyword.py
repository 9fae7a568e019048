"""Keyword search on the running platform: a collection made without the index gets it from a
backfill job a Celery worker runs, and edits to an item's text fields move it in the ranking."""

from __future__ import annotations

from typing import Any

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

NOTES = {3: "a spotted dalmatian", 7: "dalmatian puppies, two dalmatians", 9: "a tabby cat"}


def test_backfill_job_then_keyword_search(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    photos = generated_photos(12)
    bucket = upload_bucket(s3_client, photos, label="kw")
    schema = {"note": "text", "album": "keyword"}
    name = new_collection(platform, "kw", tiny_model, payload_schema=schema, keyword=None)
    base = f"/v1/collections/{name}"
    assert platform.expect(200, "GET", base)["keyword"] is None
    items = [
        {
            "uri": f"s3://{bucket}/{p.name}",
            "id": p.name,
            "text": p.caption,
            "metadata": {"note": NOTES.get(i, ""), "album": f"a{i % 2}"},
        }
        for i, p in enumerate(photos)
    ]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"
    search = {"text": "dalmatian", "mode": "keyword"}
    refused = platform.request("POST", f"{base}/search", json=search)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "no_keyword_index" and f"{base}/keyword" in error["message"]
    hybrid = platform.search(name, {"text": "dalmatian", "mode": "hybrid", "limit": 50})
    assert len(hybrid["results"]) == 12  # the dense rankings alone, until it has the index

    accepted = platform.expect(202, "POST", f"{base}/keyword", json={"language": "english"})
    assert accepted["collection"] == f"{name}--v1" and accepted["total"] == 12
    job = platform.wait_job(accepted["job_id"])
    assert (job["status"], job["total"], job["succeeded"], job["failed"]) == (
        "succeeded",
        12,
        12,
        0,
    )
    keyword = platform.expect(200, "GET", base)["keyword"]
    assert keyword == {
        "language": "english",
        "avg_len": 16.0,
        "fields": ["text", "note"],
        "ready": True,
    }
    repair = platform.expect(202, "POST", f"{base}/keyword", json={})  # fills what is missing
    assert repair["total"] == 0
    assert platform.wait_job(repair["job_id"])["status"] == "succeeded"
    other = platform.request("POST", f"{base}/keyword", json={"language": "german"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "keyword_index_exists"

    got = platform.search(name, search)["results"]
    assert [h["id"] for h in got] == [photos[7].name, photos[3].name]  # tf 3 beats tf 1
    assert got[0]["score"] > got[1]["score"] > 0
    odd = {"must": [{"key": "album", "match": {"value": "a1"}}]}
    assert [h["id"] for h in platform.search(name, {**search, "filter": odd})["results"]] == [
        photos[7].name,
        photos[3].name,
    ]
    # "number 11" words from captions: the one caption holding 11 first
    assert (
        platform.search(name, {"text": "number 11", "mode": "keyword"})["results"][0]["id"]
        == photos[11].name
    )

    patch = {"metadata": {"note": "dalmatian"}}
    platform.expect(200, "PATCH", f"{base}/items/{photos[0].name}", json=patch)
    after = {h["id"] for h in platform.search(name, search)["results"]}
    assert after == {photos[0].name, photos[3].name, photos[7].name}
    platform.expect(200, "PATCH", f"{base}/items/{photos[7].name}", json={"metadata": {"note": ""}})
    after = {h["id"] for h in platform.search(name, search)["results"]}
    assert after == {photos[0].name, photos[3].name}
