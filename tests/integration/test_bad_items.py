"""Bad items inside a job are recorded against themselves; every good item is indexed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.images import truncated_jpeg
from tests.fixtures.platform import new_collection, unique_name
from tests.fixtures.s3 import upload_bucket


def test_bad_items_are_reported_and_good_items_indexed(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    good = generated_photos(12)
    bucket = upload_bucket(s3_client, good, label="mixed")
    s3_client.put_object(Bucket=bucket, Key="truncated.jpg", Body=truncated_jpeg())
    s3_client.put_object(Bucket=bucket, Key="notes.txt", Body=b"just some text, not pixels\n")
    s3_client.put_object(Bucket=bucket, Key="empty.jpg", Body=b"")
    bad = {
        f"s3://{bucket}/truncated.jpg": "corrupt_image",
        f"s3://{bucket}/notes.txt": "not_an_image",
        f"s3://{bucket}/empty.jpg": "not_an_image",
        f"s3://{bucket}/missing.jpg": "not_found",
        f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/a.jpg": "not_found",
        "http://169.254.169.254/latest/meta-data": "forbidden_uri",
        "file:///etc/passwd": "forbidden_uri",
    }
    uris = [f"s3://{bucket}/{p.name}" for p in good]
    mixed = uris[:5] + list(bad) + uris[5:]
    name = new_collection(platform, "bad", tiny_model)

    job = platform.wait_job(platform.ingest(name, {"items": [{"uri": u} for u in mixed]}))

    assert job["status"] == "completed_with_errors"
    assert (job["total"], job["succeeded"], job["failed"]) == (len(mixed), len(good), len(bad))
    assert {e["uri"]: e["code"] for e in job["errors"]} == bad
    assert all(e["message"] for e in job["errors"])
    count = platform.request("GET", f"/v1/collections/{name}").json()["count"]
    assert count == len(good)
    hits = platform.search(name, {"text": "shapes", "limit": 100})["results"]
    assert sorted(h["uri"] for h in hits) == sorted(uris)


def test_file_references_stay_inside_the_root(
    platform: Platform, tiny_model: str, tmp_path: Path
) -> None:
    folder = platform.media_root / unique_name("f")
    folder.mkdir()
    photos = generated_photos(4)
    for photo in photos:
        (folder / photo.name).write_bytes(photo.data)
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(photos[0].data)
    (folder / "link.jpg").symlink_to(outside)
    name = new_collection(platform, "files", tiny_model)
    items = [{"uri": f"file://{folder}/{p.name}"} for p in photos] + [
        {"uri": f"file://{folder}/link.jpg"},
        {"uri": f"file://{folder}/../../{outside.name}"},
        {"uri": f"file://{outside}"},
    ]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert job["succeeded"] == len(photos)
    assert sorted(e["code"] for e in job["errors"]) == ["forbidden_uri"] * 3

    listed = platform.wait_job(platform.ingest(name, {"prefix": f"file://{folder}/"}))
    assert (listed["status"], listed["total"]) == ("succeeded", len(photos))  # link not followed
    escape = platform.request(
        "POST", f"/v1/collections/{name}/ingest", json={"prefix": f"file://{tmp_path}/"}
    )
    assert escape.status_code == 400 and escape.json()["error"]["code"] == "forbidden_uri"


def test_prefix_ingest_lists_images_only(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    photos = generated_photos(70)
    bucket = upload_bucket(s3_client, photos, prefix="album/", label="prefix")
    s3_client.put_object(Bucket=bucket, Key="album/readme.txt", Body=b"not listed")
    s3_client.put_object(Bucket=bucket, Key="other/x.jpg", Body=photos[0].data)
    name = new_collection(platform, "prefix", tiny_model, payload_schema={"album": "keyword"})

    response = platform.request(
        "POST",
        f"/v1/collections/{name}/ingest",
        json={"prefix": f"s3://{bucket}/album/", "metadata": {"album": "summer"}},
    )
    assert response.status_code == 202 and response.json()["total"] is None
    job = platform.wait_job(response.json()["job_id"])

    assert (job["status"], job["total"], job["succeeded"]) == ("succeeded", 70, 70)
    flt = {"must": [{"key": "album", "match": {"value": "summer"}}]}
    hits = platform.search(name, {"text": "x", "limit": 100, "filter": flt})["results"]
    assert len(hits) == 70 and all(h["uri"].startswith(f"s3://{bucket}/album/") for h in hits)


def test_prefix_that_cannot_be_listed_fails_the_job(platform: Platform, tiny_model: str) -> None:
    name = new_collection(platform, "noprefix", tiny_model)
    job = platform.wait_job(platform.ingest(name, {"prefix": "s3://bucket-that-is-absent/x/"}))
    assert job["status"] == "failed" and "not_found" in job["message"]
