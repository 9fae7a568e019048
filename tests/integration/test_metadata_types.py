"""Metadata takes the types a collection declares, wherever it comes in, so filters find it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket
from tests.integration.test_cli import mmsearch

SCHEMA = {
    "words": "integer",
    "album": "keyword",
    "rating": "float",
    "ok": "bool",
    "taken": "datetime",
    "year": "integer",
}


def _bucket(s3_client: Any, count: int) -> tuple[str, list[str]]:
    photos = generated_photos(count)
    bucket = upload_bucket(s3_client, photos, prefix="set/", label="types")
    return bucket, [f"s3://{bucket}/set/{photo.name}" for photo in photos]


def _found(platform: Platform, name: str, *conditions: dict[str, Any]) -> list[str]:
    """The ids of every item the conditions keep, sorted."""
    body = {"text": "shapes", "limit": 100, "filter": {"must": list(conditions)}}
    return sorted(hit["id"] for hit in platform.search(name, body)["results"])


def _refused_field(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["details"][0]["field"]


def test_a_csv_manifest_is_stored_with_the_declared_types(
    platform: Platform, s3_client: Any, tiny_model: str, tmp_path: Path
) -> None:
    _, uris = _bucket(s3_client, 6)
    name = new_collection(platform, "types", tiny_model, payload_schema=SCHEMA)
    rows = [
        ("a", "5", "summer", "1.5", "true", "2024-05-01"),
        ("b", "14", "summer", "2.5", "FALSE", "2024-05-01T10:00:00+02:00"),
        ("c", "19", "winter", "3", "1", "2024-06-15 08:30"),
        ("d", "20", "2024", "4.25", "0", "2023-12-31T23:59:59Z"),
        ("e", "10", "winter", "-1e-1", "true", "2024-07-01T00:00:00Z"),
        ("bad", "14.5", "summer", "2", "true", "2024-01-01"),
    ]
    lines = [",".join((uri, *row)) for uri, row in zip(uris, rows, strict=True)]
    manifest = tmp_path / "items.csv"
    manifest.write_text("uri,id,words,album,rating,ok,taken\n" + "\n".join(lines) + "\n")

    done = mmsearch(platform, "ingest", str(manifest), "--collection", name)

    assert done.returncode == 1, done.stderr  # the one unconvertible item failed
    assert "5 indexed, 1 failed" in done.stdout and "invalid_metadata" in done.stdout
    assert "'words'" in done.stdout
    stored = platform.expect(200, "GET", f"/v1/collections/{name}/items/b")["metadata"]
    assert stored == {
        "words": 14,
        "album": "summer",
        "rating": 2.5,
        "ok": False,
        "taken": "2024-05-01T08:00:00Z",
    }
    assert _found(platform, name, {"key": "words", "range": {"gte": 10, "lt": 20}}) == [
        "b",
        "c",
        "e",
    ]
    assert _found(platform, name, {"key": "words", "match": {"value": 20}}) == ["d"]
    assert _found(platform, name, {"key": "album", "match": {"value": "2024"}}) == ["d"]
    assert _found(platform, name, {"key": "rating", "range": {"lt": 2.5}}) == ["a", "e"]
    assert _found(platform, name, {"key": "ok", "match": {"value": True}}) == ["a", "c", "e"]
    taken = {"gte": "2024-05-01T00:00:00Z", "lt": "2024-06-30T00:00:00Z"}
    assert _found(platform, name, {"key": "taken", "range": taken}) == ["a", "b", "c"]


def test_json_items_convert_and_a_bad_one_fails_alone(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    _, uris = _bucket(s3_client, 4)
    name = new_collection(platform, "types", tiny_model, payload_schema=SCHEMA)
    metadata = [
        {"words": "12", "album": 2024, "tags": ["x", 1]},
        {"words": 15.0, "album": "2024"},
        {"words": True},
        {"words": 30},
    ]
    items = [
        {"uri": uri, "id": f"i{n}", "metadata": meta}
        for n, (uri, meta) in enumerate(zip(uris, metadata, strict=True))
    ]
    job = platform.wait_job(platform.ingest(name, {"items": items, "metadata": {"year": "2021"}}))

    assert (job["status"], job["succeeded"], job["failed"]) == ("completed_with_errors", 3, 1)
    [error] = job["errors"]
    assert (error["id"], error["code"]) == ("i2", "invalid_metadata")
    assert "'words'" in error["message"]
    first = platform.expect(200, "GET", f"/v1/collections/{name}/items/i0")["metadata"]
    assert first == {"words": 12, "album": "2024", "tags": ["x", 1], "year": 2021}
    assert _found(platform, name, {"key": "words", "range": {"gte": 10, "lt": 20}}) == ["i0", "i1"]
    assert _found(platform, name, {"key": "album", "match": {"value": "2024"}}) == ["i0", "i1"]
    assert _found(platform, name, {"key": "year", "range": {"gte": 2021}}) == ["i0", "i1", "i3"]

    bad_shared = {"items": [{"uri": uris[0]}], "metadata": {"year": "20x4"}}
    refused = platform.request("POST", f"/v1/collections/{name}/ingest", json=bad_shared)
    assert _refused_field(refused) == (422, "invalid_request", "metadata.year")


def test_a_patch_is_stored_with_the_declared_type(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    _, uris = _bucket(s3_client, 2)
    name = new_collection(platform, "types", tiny_model, payload_schema=SCHEMA)
    items = [{"uri": uri, "id": f"p{n}", "metadata": {"year": 1999}} for n, uri in enumerate(uris)]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"
    item = f"/v1/collections/{name}/items/p0"

    patched = platform.expect(200, "PATCH", item, json={"metadata": {"year": "2024"}})

    assert patched["metadata"] == {"year": 2024}
    assert _found(platform, name, {"key": "year", "range": {"gte": 2020}}) == ["p0"]
    refused = platform.request("PATCH", item, json={"metadata": {"year": "20x4"}})
    assert _refused_field(refused) == (422, "invalid_request", "metadata.year")
    assert "year" in refused.json()["error"]["message"]
    for raw in ('{"year": 1e400}', '{"year": true}', '{"year": ["1", "x"]}'):
        body = f'{{"metadata": {raw}}}'
        headers = {"Content-Type": "application/json"}
        refused = platform.request("PATCH", item, data=body, headers=headers)
        assert _refused_field(refused) == (422, "invalid_request", "metadata.year"), raw
    assert platform.expect(200, "GET", item)["metadata"] == {"year": 2024}
    replaced = {"metadata": {"ok": "True", "note": "7"}, "replace": True}
    assert platform.expect(200, "PATCH", item, json=replaced)["metadata"] == {
        "ok": True,
        "note": "7",
    }


def test_a_prefix_ingest_metadata_is_converted_or_refused(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    bucket, _ = _bucket(s3_client, 3)
    name = new_collection(platform, "types", tiny_model, payload_schema=SCHEMA)
    prefix = f"s3://{bucket}/set/"
    path = f"/v1/collections/{name}/ingest"

    refused = platform.request("POST", path, json={"prefix": prefix, "metadata": {"ok": "maybe"}})

    assert _refused_field(refused) == (422, "invalid_request", "metadata.ok")
    body = {"prefix": prefix, "metadata": {"year": "2020", "ok": "false"}}
    assert platform.wait_job(platform.ingest(name, body))["succeeded"] == 3
    assert len(_found(platform, name, {"key": "year", "range": {"gte": 2020, "lte": 2020}})) == 3
    assert len(_found(platform, name, {"key": "ok", "match": {"value": False}})) == 3
