"""Metadata is bounded before it is written, so what the engine stores it can always read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmsearch.infra.local_redis import LocalRedis
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, standalone_env
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket
from tests.integration.test_cli import mmsearch

DEEP = 124  # the depth that once made the embedded engine's log unreadable


def nested(depth: int) -> dict[str, Any]:
    """Metadata nested `depth` levels deep."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def _refused(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["details"][0]["field"]


def _uris(s3_client: Any, count: int) -> list[str]:
    photos = generated_photos(count)
    bucket = upload_bucket(s3_client, photos, label="meta")
    return [f"s3://{bucket}/{photo.name}" for photo in photos]


def test_request_metadata_beyond_the_bounds_is_422(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    uris = _uris(s3_client, 1)
    name = new_collection(platform, "meta", tiny_model)
    path = f"/v1/collections/{name}/ingest"
    prefix = uris[0].rsplit("/", 1)[0] + "/"
    for body in (
        {"items": [{"uri": uris[0]}], "metadata": nested(DEEP)},
        {"prefix": prefix, "metadata": nested(DEEP)},
        {"prefix": prefix, "metadata": {"a": {f"k{i}": i for i in range(600)}}},
        {"prefix": prefix, "metadata": {"note": "x" * 70_000}},
    ):
        response = platform.request("POST", path, json=body)
        assert _refused(response) == (422, "invalid_request", "metadata")
    jobs = platform.expect(200, "GET", "/v1/jobs", params={"limit": 1000})["data"]
    assert [job for job in jobs if job["collection"] == name] == []


def test_items_beyond_the_bounds_fail_alone_and_patches_are_checked(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    uris = _uris(s3_client, 4)
    name = new_collection(platform, "meta", tiny_model)
    bad = {
        "deep": nested(DEEP),
        "wide": {"a": {f"k{i}": i for i in range(600)}},
        "large": {"note": "x" * 70_000},
    }
    items = [{"uri": uris[0], "id": "good", "metadata": {"album": "a"}}] + [
        {"uri": uri, "id": item_id, "metadata": metadata}
        for uri, (item_id, metadata) in zip(uris[1:], bad.items(), strict=True)
    ]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert (job["status"], job["succeeded"], job["failed"]) == ("completed_with_errors", 1, 3)
    assert {e["id"]: e["code"] for e in job["errors"]} == dict.fromkeys(bad, "invalid_metadata")

    item = f"/v1/collections/{name}/items/good"
    for metadata in bad.values():
        response = platform.request("PATCH", item, json={"metadata": metadata})
        assert _refused(response) == (422, "invalid_request", "metadata")
    half = "y" * 40_000
    platform.expect(200, "PATCH", item, json={"metadata": {"one": half}})
    merged = platform.request("PATCH", item, json={"metadata": {"two": half}})
    assert _refused(merged) == (422, "invalid_request", "metadata")
    replace = {"metadata": {"two": half}, "replace": True}
    assert platform.expect(200, "PATCH", item, json=replace)["metadata"] == {"two": half}
    assert platform.expect(200, "GET", item)["metadata"] == {"two": half}


def test_manifest_items_beyond_the_bounds_fail_alone(
    platform: Platform, s3_client: Any, tiny_model: str, tmp_path: Path
) -> None:
    uris = _uris(s3_client, 2)
    name = new_collection(platform, "meta", tiny_model)
    manifest = tmp_path / "items.jsonl"
    rows = [{"uri": uris[0], "id": "good"}, {"uri": uris[1], "id": "deep", "tree": nested(DEEP)}]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = mmsearch(platform, "ingest", str(manifest), "--collection", name)
    assert done.returncode == 1, done.stderr  # an item failed
    assert "1 indexed, 1 failed" in done.stdout and "invalid_metadata" in done.stdout


def test_the_platform_restarts_after_every_kind_of_write(
    tmp_path: Path, s3_client: Any, s3_endpoint: str, tiny_model: str
) -> None:
    uris = _uris(s3_client, 4)
    redis = LocalRedis(tmp_path / "redis", persist=False)
    env = standalone_env(
        redis.url, tmp_path / "data", s3_endpoint, tiny_model, models="mmsearch-tiny/random:3"
    )
    try:
        first = Platform(env, tmp_path / "first.log")
        try:
            name = _write_every_way(first, tiny_model, uris)
        finally:
            first.stop()
        again = Platform(env, tmp_path / "again.log")
        try:
            assert again.expect(200, "GET", f"/v1/collections/{name}")["count"] == 1
            kept = again.expect(200, "GET", f"/v1/collections/{name}/items/kept")
            assert kept["metadata"] == {"album": "b", "tree": nested(8)}
        finally:
            again.stop()
    finally:
        redis.stop()


def _write_every_way(platform: Platform, model: str, uris: list[str]) -> str:
    """Ingest, patch, delete, delete by filter and start a re-embed, with refused writes between."""
    name = new_collection(platform, "restart", model)
    ids = ["kept", "gone", "filtered", "deep"]
    items = [
        {"uri": uri, "id": item_id, "metadata": {"album": "a" if item_id != "filtered" else "x"}}
        for uri, item_id in zip(uris, ids, strict=True)
    ]
    items[-1]["metadata"] = nested(DEEP)
    platform.wait_job(platform.ingest(name, {"items": items}))
    base = f"/v1/collections/{name}"
    tree = {"album": "b", "tree": nested(8)}
    platform.expect(200, "PATCH", f"{base}/items/kept", json={"metadata": tree, "replace": True})
    platform.request("PATCH", f"{base}/items/kept", json={"metadata": nested(DEEP)})
    platform.expect(200, "DELETE", f"{base}/items/gone")
    flt = {"must": [{"key": "album", "match": {"value": "x"}}]}
    platform.expect(200, "POST", f"{base}/items:delete", json={"filter": flt})
    platform.expect(202, "POST", f"{base}/reembed", json={"model": "mmsearch-tiny/random:3"})
    return name
