"""A collection deleted and re-created under its name mid-job: the old job never writes into it."""

from __future__ import annotations

import time

from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection, unique_name

STALE = 3000  # items of the first job: enough that most batches run after the re-create
FRESH = 5


def test_a_job_of_a_deleted_collection_never_writes_into_its_successor(
    platform: Platform, tiny_model: str
) -> None:
    folder = platform.media_root / unique_name("incarnation")
    folder.mkdir()
    photos = generated_photos(FRESH)
    for photo in photos:
        (folder / photo.name).write_bytes(photo.data)
    uris = [file_uri(folder / photo.name) for photo in photos]
    name = new_collection(platform, "reborn", tiny_model)
    stale = [{"uri": uris[i % FRESH], "id": f"old-{i}"} for i in range(STALE)]
    old_job = platform.ingest(name, {"items": stale})
    _wait_until_indexing(platform, old_job)

    platform.expect(200, "DELETE", f"/v1/collections/{name}")
    platform.create_collection(name, tiny_model)
    fresh = [{"uri": uri, "id": f"new-{i}"} for i, uri in enumerate(uris)]
    new_job = platform.wait_job(platform.ingest(name, {"items": fresh}))
    old = platform.wait_job(old_job)

    assert new_job["status"] == "succeeded"
    hits = platform.search(name, {"text": "shapes", "limit": 100})["results"]
    assert sorted(h["id"] for h in hits) == sorted(item["id"] for item in fresh)
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == FRESH
    assert old["status"] in ("failed", "completed_with_errors")
    assert old["succeeded"] + old["failed"] + old["skipped"] == old["total"] == STALE
    assert old["failed"] > 0 and {e["code"] for e in old["errors"]} == {"collection_deleted"}


def _wait_until_indexing(platform: Platform, job_id: str) -> None:
    """Return once the job has indexed its first batch (it must still be far from done)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = platform.expect(200, "GET", f"/v1/jobs/{job_id}")
        if job["succeeded"] > 0:
            assert job["succeeded"] < STALE // 2, "the job ran too fast to be interrupted"
            return
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} indexed nothing in 120 s")
