"""Hostile requests get stable 4xx answers and never change what is stored."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

ODD_IDS = ["/a/b", "a//b", "a/", "%2F", "//", "ünï/cødé ✓", "x/../y"]


def _item_path(name: str, item_id: str, kind: str = "items") -> str:
    return f"/v1/collections/{name}/{kind}/{quote(item_id, safe='')}"


def _error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture(scope="module")
def odd_items(platform: Platform, s3_client: Any, tiny_model: str) -> str:
    """A collection whose items have ids with slashes, percent signs and unicode."""
    photos = generated_photos(len(ODD_IDS) + 2)
    bucket = upload_bucket(s3_client, photos, label="odd")
    name = new_collection(platform, "odd", tiny_model)
    ids = [*ODD_IDS, "keep-1", "keep-2"]
    items = [
        {"uri": f"s3://{bucket}/{photo.name}", "id": item_id, "metadata": {"k": i}}
        for i, (photo, item_id) in enumerate(zip(photos, ids, strict=True))
    ]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert job["status"] == "succeeded", job
    return name


@pytest.mark.parametrize("item_id", ODD_IDS)
def test_every_legal_id_is_addressable(platform: Platform, odd_items: str, item_id: str) -> None:
    path = _item_path(odd_items, item_id)
    assert platform.expect(200, "GET", path)["id"] == item_id
    thumb = platform.request("GET", _item_path(odd_items, item_id, "thumbnails"))
    assert (thumb.status_code, thumb.headers["Content-Type"]) == (200, "image/jpeg")
    patched = platform.expect(200, "PATCH", path, json={"metadata": {"seen": True}})
    assert patched["id"] == item_id and patched["metadata"]["seen"] is True


def test_odd_ids_are_deleted_one_by_one(platform: Platform, odd_items: str) -> None:
    for item_id in ODD_IDS:
        assert platform.expect(200, "DELETE", _item_path(odd_items, item_id)) == {"deleted": 1}
        gone = platform.request("GET", _item_path(odd_items, item_id))
        assert (gone.status_code, _error_code(gone)) == (404, "item_not_found")
    assert platform.expect(200, "GET", f"/v1/collections/{odd_items}")["count"] == 2


def test_an_empty_filter_deletes_nothing(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    name = new_collection(platform, "keep", tiny_model)
    photos = generated_photos(3)
    bucket = upload_bucket(s3_client, photos, label="keep")
    uris = [f"s3://{bucket}/{photo.name}" for photo in photos]
    platform.wait_job(platform.ingest(name, {"items": [{"uri": uri} for uri in uris]}))
    path = f"/v1/collections/{name}/items:delete"

    empty = ({"filter": {}}, {"filter": {"must": []}}, {"filter": {"should": None}})
    for body in (*empty, {"all": False}, {"filter": {}, "all": True}, {}):
        refused = platform.request("POST", path, json=body)
        assert (refused.status_code, _error_code(refused)) == (422, "invalid_request"), body
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 3

    assert platform.expect(200, "POST", path, json={"all": True}) == {"deleted": 3}
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 0


@pytest.mark.parametrize("depth", [300, 1_100, 100_000])
def test_deeply_nested_json_is_a_client_error(platform: Platform, depth: int) -> None:
    body = '{"name": "deep", "payload_schema": ' + "[" * depth + "]" * depth + "}"
    response = platform.request(
        "POST", "/v1/collections", data=body, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, _error_code(response)) == (422, "invalid_json")


@pytest.mark.parametrize("suffix", [":batches", ":failed", ":errors", ":retry:1", ""])
def test_job_ids_are_job_ids(platform: Platform, tiny_model: str, suffix: str) -> None:
    name = new_collection(platform, "jobid", tiny_model)
    job_id = platform.ingest(name, {"items": [{"uri": "s3://no-bucket/a.jpg"}]})
    platform.wait_job(job_id)
    for method, tail in (("GET", ""), ("DELETE", ""), ("POST", "/retry")):
        response = platform.request(method, f"/v1/jobs/{quote(job_id + 'x' + suffix)}{tail}")
        assert (response.status_code, _error_code(response)) == (404, "job_not_found")
        response = platform.request(method, f"/v1/jobs/{quote(job_id + suffix)}{tail}")
        if suffix:
            assert (response.status_code, _error_code(response)) == (404, "job_not_found")
