"""Sources kept in sync through the API, on the standalone platform with its real Celery worker:
a bucket on the S3 server (SeaweedFS, over HTTP) and a folder, each synced, changed (5 new, 3
deleted, 2 overwritten with other photos) and synced again, then found unchanged."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_jpeg
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection, unique_name
from tests.integration.test_metrics import scrape, value

EMBEDDED = "mmsearch_images_embedded_total"


class Store:
    """Where a source's objects live: `put` and `delete` by key; `uri` the source's reference."""

    uri: str
    put: Callable[[str, bytes], None]
    delete: Callable[[str], None]


def bucket_store(s3_client: Any) -> Store:
    bucket = unique_name("sync")
    s3_client.create_bucket(Bucket=bucket)
    store = Store()
    store.uri = f"s3://{bucket}/library/"
    store.put = lambda key, data: s3_client.put_object(
        Bucket=bucket, Key=f"library/{key}", Body=data
    )
    store.delete = lambda key: s3_client.delete_object(Bucket=bucket, Key=f"library/{key}")
    return store


def folder_store(root: Path) -> Store:
    folder = root / unique_name("sync")
    folder.mkdir()
    store = Store()
    store.uri = file_uri(folder)

    def put(key: str, data: bytes) -> None:
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)

    store.put, store.delete = put, lambda key: (folder / key).unlink()
    return store


def sync(platform: Platform, name: str, source_id: str, **body: Any) -> dict[str, Any]:
    path = f"/v1/collections/{name}/sources/{source_id}/sync"
    job_id = platform.expect(202, "POST", path, json=body)["job_id"]
    return platform.wait_job(job_id)


def found(job: dict[str, Any]) -> tuple[int, int, int, int]:
    return job["added"], job["updated"], job["removed"], job["unchanged"]


@pytest.mark.parametrize("kind", ["s3", "folder"])
def test_a_source_stays_in_sync(
    platform: Platform, s3_client: Any, tiny_model: str, kind: str
) -> None:
    store = bucket_store(s3_client) if kind == "s3" else folder_store(platform.media_root)
    keys = [f"{'ab'[i % 2]}/p{i:02d}.jpg" for i in range(20)]
    for i, key in enumerate(keys):
        store.put(key, generated_jpeg(1000 + i))
    name = new_collection(platform, f"sync-{kind}", tiny_model)
    added = platform.expect(201, "POST", f"/v1/collections/{name}/sources", json={"uri": store.uri})
    source_id = added["source_id"]
    assert added["uri"] == store.uri.rstrip("/") + "/" and added["last_sync"] is None

    first = sync(platform, name, source_id)
    assert first["status"] == "succeeded" and found(first) == (20, 0, 0, 0)
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 20
    item = platform.expect(200, "GET", f"/v1/collections/{name}/items/{keys[0]}")
    assert item["source"] == {"id": source_id, "key": keys[0]}

    for i in range(5):
        store.put(f"new/n{i}.jpg", generated_jpeg(2000 + i))
    for key in keys[:3]:
        store.delete(key)
    fresh = {key: generated_jpeg(3000 + n) for n, key in enumerate(keys[3:5])}
    for key, data in fresh.items():
        store.put(key, data)
    second = sync(platform, name, source_id)
    assert second["status"] == "succeeded", second["errors"]
    assert found(second) == (5, 2, 3, 15)
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 22
    for key, data in fresh.items():
        query = {"image": {"base64": base64.b64encode(data).decode()}, "limit": 3}
        best = platform.search(name, query)["results"][0]
        assert best["id"] == key and best["score"] > 0.999
    for key in keys[:3]:
        platform.expect(404, "GET", f"/v1/collections/{name}/items/{key}")

    before = value(scrape(platform), EMBEDDED)
    third = sync(platform, name, source_id)
    assert found(third) == (0, 0, 0, 22) and third["total"] == 0
    assert value(scrape(platform), EMBEDDED) == before  # nothing was embedded again

    shown = platform.expect(200, "GET", f"/v1/collections/{name}/sources/{source_id}")
    assert shown["last_sync"]["job_id"] == third["job_id"] and not shown["syncing"]
    assert shown["last_sync"]["unchanged"] == 22
    listed = platform.expect(200, "GET", f"/v1/collections/{name}/sources")
    assert [s["source_id"] for s in listed["data"]] == [source_id]
    removed = platform.expect(
        200, "DELETE", f"/v1/collections/{name}/sources/{source_id}", params={"purge": "true"}
    )
    assert removed == {"source_id": source_id, "deleted": True, "purged": 22}
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 0
    platform.expect(404, "GET", f"/v1/collections/{name}/sources/{source_id}")


def test_sources_refuse_what_they_cannot_sync(platform: Platform, tiny_model: str) -> None:
    name = new_collection(platform, "sync-bad", tiny_model)
    base = f"/v1/collections/{name}/sources"
    for uri in ("https://example.com/photos/", "file:///etc/", "ftp://x/"):
        error = platform.expect(400, "POST", base, json={"uri": uri})["error"]
        assert error["code"] in {"invalid_uri", "forbidden_uri"}
    bad = platform.expect(422, "POST", base, json={"uri": "s3://b/", "include": ["[z-a]"]})
    assert bad["error"]["code"] == "invalid_request"
    platform.expect(404, "POST", "/v1/collections/none-such/sources", json={"uri": "s3://b/"})
    platform.expect(404, "POST", f"{base}/src_nothing/sync", json={})
    missing = platform.expect(400, "POST", base, json={"uri": "s3://no-such-bucket-here/"})
    assert missing["error"]["code"] == "not_found"
    folder = f"file://{platform.media_root}/no-such-folder/"
    assert platform.expect(400, "POST", base, json={"uri": folder})["error"]["code"] == "not_found"
    assert platform.expect(200, "GET", base)["data"] == []


def test_a_schedule_and_bucket_events_sync_by_themselves(
    platform: Platform, s3_client: Any, tiny_model: str, redis_url: str
) -> None:
    store = bucket_store(s3_client)
    store.put("a.jpg", generated_jpeg(1))
    name = new_collection(platform, "sync-auto", tiny_model)
    body = {"uri": store.uri, "interval_s": 2}
    source_id = platform.expect(201, "POST", f"/v1/collections/{name}/sources", json=body)[
        "source_id"
    ]
    path = f"/v1/collections/{name}/sources/{source_id}"
    scheduled = wait_for(lambda: platform.expect(200, "GET", path)["last_sync"])
    job = platform.wait_job(scheduled["job_id"])
    assert found(job) == (1, 0, 0, 0)

    # MinIO's Redis target (format access) appends each event as a JSON list to the key.
    bucket, prefix = store.uri[len("s3://") :].split("/", 1)
    store.put("b c.jpg", generated_jpeg(2))
    record = {
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": f"{prefix}b+c.jpg"}},
    }
    events = redis.Redis.from_url(redis_url)
    events.rpush(platform.env["MMSEARCH_BUCKET_EVENTS_KEY"], json.dumps([{"Event": [record]}]))
    wait_for(
        lambda: platform.request("GET", f"/v1/collections/{name}/items/b c.jpg").status_code == 200
    )
    platform.expect(200, "DELETE", path)  # no more scheduled syncs


def wait_for(check: Callable[[], Any], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError("timed out")


def test_the_sources_commands(platform: Platform, tiny_model: str) -> None:
    from tests.integration.test_cli import mmsearch

    store = folder_store(platform.media_root)
    for i in range(3):
        store.put(f"p{i}.jpg", generated_jpeg(4000 + i))
    store.put("skip/p9.jpg", generated_jpeg(4009))
    name = new_collection(platform, "sync-cli", tiny_model)
    folder = store.uri.removeprefix("file://")
    added = mmsearch(platform, "sources", "add", name, folder, "--exclude", "skip/", "--sync")
    assert added.returncode == 0, added.stderr
    source_id = added.stdout.split()[0]
    assert "added 3, updated 0, removed 0, unchanged 0" in added.stdout
    store.delete("p0.jpg")
    dry = mmsearch(platform, "sources", "sync", name, source_id, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "added 0, updated 0, removed 1, unchanged 2 (dry run)" in dry.stdout
    listed = mmsearch(platform, "sources", "list", name)
    assert source_id in listed.stdout and "succeeded +0 ~0 -1 =2" in listed.stdout
    removed = mmsearch(platform, "sources", "remove", name, source_id, "--purge")
    assert removed.returncode == 0 and "3 items deleted" in removed.stdout
    missing = mmsearch(platform, "sources", "sync", name, source_id)
    assert missing.returncode == 2 and "404 source_not_found" in missing.stderr


def test_the_scheduler_command_sends_sync_due_every_tick(
    private_broker: str, tmp_path: Path
) -> None:
    """Compose's `scheduler` service: Celery beat sending the task that starts due syncs."""
    import os
    import subprocess
    import sys

    from mmsearch.workers import tasks
    from mmsearch.workers.celery_app import SYNC_DUE
    from tests.fixtures.broker import queued_tasks

    assert tasks.sync_due.name == SYNC_DUE  # what a worker runs when it comes
    env = {
        **os.environ,
        "MMSEARCH_REDIS_URL": private_broker,
        "MMSEARCH_SYNC_TICK_S": "0.5",
        "MMSEARCH_DATA_DIR": str(tmp_path),
    }
    schedule = str(tmp_path / "beat-schedule")
    command = [sys.executable, "-m", "mmsearch.api.cli", "scheduler", "--schedule-file", schedule]
    beat = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        broker = redis.Redis.from_url(private_broker)
        sent = wait_for(lambda: len([t for t, _ in queued_tasks(broker) if t == SYNC_DUE]) >= 2)
        assert sent
    finally:
        beat.terminate()
        beat.wait(timeout=30)
