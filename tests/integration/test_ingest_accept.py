"""Large ingest requests are accepted at once and fanned out by the workers; a retried request
with the same Idempotency-Key gets the first job back instead of a duplicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, platform_with_redis
from tests.fixtures.platform import new_collection, unique_name


def _file_items(platform: Platform, count: int, kinds: int = 4) -> list[dict[str, Any]]:
    """`count` items with distinct ids over `kinds` real image files under the media root."""
    folder = platform.media_root / unique_name("many")
    folder.mkdir()
    uris = []
    for photo in generated_photos(kinds):
        (folder / photo.name).write_bytes(photo.data)
        uris.append(file_uri(folder / photo.name))
    return [{"uri": uris[n % kinds], "id": f"item-{n}"} for n in range(count)]


def _collection_jobs(platform: Platform, collection: str) -> list[str]:
    jobs = platform.expect(200, "GET", "/v1/jobs", params={"limit": 1000})["data"]
    return [job["job_id"] for job in jobs if job["collection"] == collection]


def test_an_ingest_larger_than_the_inline_batches_completes_with_exact_counters(
    platform: Platform, tiny_model: str
) -> None:
    name = new_collection(platform, "fanout", tiny_model)
    items = _file_items(platform, 300)  # batches of 32: fanned out by a worker

    job = platform.wait_job(platform.ingest(name, {"items": items}))

    assert (job["status"], job["total"], job["succeeded"], job["failed"]) == (
        "succeeded",
        300,
        300,
        0,
    )
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 300


def test_a_retried_request_with_the_same_idempotency_key_returns_the_first_job(
    platform: Platform, tiny_model: str
) -> None:
    name = new_collection(platform, "idem", tiny_model)
    body = {"items": _file_items(platform, 40)}
    path, key = f"/v1/collections/{name}/ingest", {"Idempotency-Key": unique_name("k")}

    first = platform.expect(202, "POST", path, json=body, headers=key)
    again = platform.expect(202, "POST", path, json=body, headers=key)
    assert again["job_id"] == first["job_id"] and again["total"] == 40
    assert _collection_jobs(platform, name) == [first["job_id"]]

    reused = platform.expect(409, "POST", path, json={"items": body["items"][:5]}, headers=key)
    assert reused["error"]["code"] == "idempotency_key_reused"
    assert reused["error"]["details"] == {"job_id": first["job_id"]}
    job = platform.wait_job(first["job_id"])
    assert (job["succeeded"], job["failed"]) == (40, 0)
    assert platform.expect(202, "POST", path, json=body, headers=key)["job_id"] == first["job_id"]
    without_key = platform.expect(202, "POST", path, json=body)["job_id"]
    assert sorted(_collection_jobs(platform, name)) == sorted([first["job_id"], without_key])


def test_a_request_of_100k_items_is_accepted_with_its_total(
    tmp_path: Path, s3_endpoint: str, tiny_model: str
) -> None:
    settings = {"file_root": str(tmp_path / "media"), "batch_size": "32"}
    (tmp_path / "media").mkdir()
    with platform_with_redis(tmp_path, s3_endpoint, tiny_model, **settings) as platform:
        name = new_collection(platform, "large", tiny_model)
        items = _file_items(platform, 100_000)

        path = f"/v1/collections/{name}/ingest"
        accepted = platform.expect(202, "POST", path, json={"items": items})
        cancelled = platform.expect(200, "DELETE", f"/v1/jobs/{accepted['job_id']}")

        assert accepted["total"] == 100_000 and cancelled["total"] == 100_000
        job = platform.wait_job(accepted["job_id"])
        assert (job["status"], job["total"]) == ("cancelled", 100_000)
        assert job["succeeded"] + job["failed"] < 100_000
