"""`POST /v1/jobs/{id}/retry` over the real API, worker, Redis and S3."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.testing.photos import generated_jpeg, generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.http import error_of
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket


def retry(platform: Platform, job_id: str, body: dict[str, Any] | None = None) -> Any:
    return platform.request("POST", f"/v1/jobs/{job_id}/retry", json=body)


def test_retry_sends_only_failed_items_and_keeps_counters(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    good = generated_photos(6)
    bucket = upload_bucket(s3_client, good, label="retry")
    s3_client.put_object(Bucket=bucket, Key="notes.jpg", Body=b"not pixels")
    late = ["late-0.jpg", "late-1.jpg"]  # uploaded only after the first run
    items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in good]
    items += [
        {"uri": f"s3://{bucket}/{key}", "id": key, "metadata": {"late": True}, "text": key}
        for key in late
    ]
    items.append({"uri": f"s3://{bucket}/notes.jpg", "id": "notes"})
    name = new_collection(platform, "retry", tiny_model)
    job_id = platform.ingest(name, {"items": items})
    job = platform.wait_job(job_id)
    assert (job["status"], job["succeeded"], job["failed"]) == ("completed_with_errors", 6, 3)

    for i, key in enumerate(late):
        s3_client.put_object(Bucket=bucket, Key=key, Body=generated_jpeg(500 + i))
    response = retry(platform, job_id, {"codes": ["not_found"]})
    assert response.status_code == 202, response.text
    assert response.json()["requeued"] == 2 and response.json()["attempt"] == 1
    job = platform.wait_job(job_id)
    assert (job["status"], job["total"], job["succeeded"], job["failed"], job["pending"]) == (
        "completed_with_errors",
        9,
        8,
        1,
        0,
    )
    assert [(e["id"], e["code"]) for e in job["errors"]] == [("notes", "not_an_image")]
    assert job["retries"] == 1
    info = platform.request("GET", f"/v1/collections/{name}").json()
    assert info["count"] == 8
    item = platform.request("GET", f"/v1/collections/{name}/items/late-1.jpg").json()
    assert item["metadata"] == {"late": True} and item["text"] == "late-1.jpg"

    assert error_of(retry(platform, job_id, {"codes": ["not_found"]}), 409)["code"] == (
        "nothing_to_retry"
    )
    again = retry(platform, job_id)  # every code: the not-an-image item fails again
    assert again.status_code == 202 and again.json()["requeued"] == 1
    job = platform.wait_job(job_id)
    assert (job["succeeded"], job["failed"], job["retries"]) == (8, 1, 2)
    assert platform.request("GET", f"/v1/collections/{name}").json()["count"] == 8


def test_retry_refuses_unfinished_cancelled_and_unknown_jobs(
    platform: Platform, redis_url: str
) -> None:
    jobs = JobStore(redis.Redis.from_url(redis_url), max_errors=10, ttl_s=600)
    queued = jobs.create("anything", 5)
    assert error_of(retry(platform, queued), 409)["code"] == "job_not_finished"
    jobs.cancel(queued)
    assert error_of(retry(platform, queued), 409)["code"] == "job_cancelled"
    assert error_of(retry(platform, uuid.uuid4().hex), 404)["code"] == "job_not_found"
    bad = retry(platform, queued, {"codes": ["no_such_code"]})
    assert error_of(bad, 422)["details"][0]["field"].startswith("codes")
