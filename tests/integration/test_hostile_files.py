"""Hostile things under the file root, met through the running platform: pipes, folders and
symlink loops are client errors or per-item codes that hold no thread and no descriptor, and
every legal name (file or S3 key) is listed, fetched and searched intact."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from mmsearch.infra.testing.s3 import ACCESS_KEY, SECRET_KEY
from tests.fixtures.files import ODD_FILE_NAMES, ODD_KEYS, named_pipe
from tests.fixtures.platform import new_collection, unique_name


@pytest.fixture()
def folder(platform: Platform) -> Path:
    path = platform.media_root / unique_name("hostile")
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def collection(platform: Platform, tiny_model: str) -> str:
    return new_collection(platform, "hostile", tiny_model)


def image_search(platform: Platform, collection: str, uri: str) -> requests.Response:
    body = {"image": {"uri": uri}, "limit": 1}
    path = f"/v1/collections/{collection}/search"
    return platform.http.post(f"{platform.base}{path}", json=body, timeout=15)


def error_code(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def open_descriptors(platform: Platform) -> int:
    return len(os.listdir(f"/proc/{platform.process.pid}/fd"))


def test_pipes_are_refused_at_once_and_hold_no_thread(
    platform: Platform, collection: str, folder: Path
) -> None:
    with named_pipe(folder / "pipe.jpg") as pipe, ThreadPoolExecutor(16) as pool:
        uri = file_uri(pipe)
        searches = list(pool.map(lambda _: image_search(platform, collection, uri), range(16)))
        assert {error_code(r) for r in searches} == {(400, "not_a_file")}
        assert platform.http.get(f"{platform.base}/healthz", timeout=5).status_code == 200
        photo = generated_photos(1)[0]
        (folder / photo.name).write_bytes(photo.data)
        items = [{"uri": uri}, {"uri": uri}, {"uri": file_uri(folder / photo.name)}]
        job = platform.wait_job(platform.ingest(collection, {"items": items}), timeout_s=60)
    assert (job["succeeded"], job["failed"]) == (1, 2)
    assert [e["code"] for e in job["errors"]] == ["not_a_file"] * 2


def test_folders_and_symlink_loops_are_client_errors(
    platform: Platform, collection: str, folder: Path
) -> None:
    (folder / "album.jpg").mkdir()
    (folder / "loop").symlink_to("loop")
    bad = {
        file_uri(platform.media_root): "not_a_file",
        file_uri(folder / "album.jpg"): "not_a_file",
        file_uri(folder / "loop"): "not_found",
        file_uri(folder / "loop") + "/a.jpg": "not_found",
    }
    for uri, code in bad.items():
        assert error_code(image_search(platform, collection, uri)) == (400, code)
    job = platform.wait_job(platform.ingest(collection, {"items": [{"uri": u} for u in bad]}))
    assert {e["uri"]: e["code"] for e in job["errors"]} == bad
    prefix = {"prefix": file_uri(folder / "loop") + "/"}
    listing = platform.request("POST", f"/v1/collections/{collection}/ingest", json=prefix)
    assert error_code(listing) == (400, "not_found")


def test_failed_reads_leak_no_descriptors(
    platform: Platform, collection: str, folder: Path
) -> None:
    (folder / "album.jpg").mkdir()
    uri = file_uri(folder / "album.jpg")
    image_search(platform, collection, uri)  # warm up
    before = open_descriptors(platform)
    statuses = {image_search(platform, collection, uri).status_code for _ in range(40)}
    assert open_descriptors(platform) - before < 10  # other threads may hold a few briefly
    assert statuses == {400}


def test_every_legal_file_name_is_listed_searched_and_read_back(
    platform: Platform, tiny_model: str, folder: Path
) -> None:
    photos = generated_photos(len(ODD_FILE_NAMES))
    for name, photo in zip(ODD_FILE_NAMES, photos, strict=True):
        (folder / name).write_bytes(photo.data)
    name = new_collection(platform, "names", tiny_model)
    job = platform.wait_job(platform.ingest(name, {"prefix": file_uri(folder) + "/"}))
    assert (job["status"], job["total"]) == ("succeeded", len(ODD_FILE_NAMES))
    hits = platform.search(name, {"text": "x", "limit": 100})["results"]
    assert sorted(h["uri"] for h in hits) == sorted(file_uri(folder / n) for n in ODD_FILE_NAMES)
    for hit in hits:
        same = platform.search(name, {"image": {"uri": hit["uri"]}, "limit": 1})["results"][0]
        assert same["uri"] == hit["uri"] and same["score"] > 0.999


def test_every_legal_key_is_listed_and_indexed(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    bucket = unique_name("keys")
    s3_client.create_bucket(Bucket=bucket)
    for key, photo in zip(ODD_KEYS, generated_photos(len(ODD_KEYS)), strict=True):
        s3_client.put_object(Bucket=bucket, Key=f"in/{key}", Body=photo.data)
    name = new_collection(platform, "keys", tiny_model)
    job = platform.wait_job(platform.ingest(name, {"prefix": f"s3://{bucket}/in/"}))
    assert (job["status"], job["succeeded"]) == ("succeeded", len(ODD_KEYS))
    hits = platform.search(name, {"text": "x", "limit": 100})["results"]
    assert sorted(h["uri"] for h in hits) == sorted(f"s3://{bucket}/in/{k}" for k in ODD_KEYS)


def test_a_folder_and_a_bucket_list_the_same_keys_each_in_a_stable_order(
    s3_endpoint: str, s3_client: Any, tmp_path: Path
) -> None:
    keys = ["c.jpg", "a/1.jpg", "a0.jpg", "a/b/2.jpg", "a-z.png", "ä.jpg", *ODD_KEYS]
    bucket = unique_name("order")
    s3_client.create_bucket(Bucket=bucket)
    root = tmp_path / "media"
    for key in keys:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(b"x")
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    settings = Settings(
        data_dir=tmp_path / "data",
        file_root=root,
        s3_endpoint_url=s3_endpoint,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
    )
    objects = ObjectStore(settings)
    in_bucket = objects.list_prefix(objects.parse(f"s3://{bucket}/", prefix=True), 99)
    in_folder = objects.list_prefix(objects.parse(file_uri(root) + "/", prefix=True), 99)
    bucket_keys = [uri.removeprefix(f"s3://{bucket}/") for uri in in_bucket]
    folder_keys = [objects.parse(uri).path.removeprefix(f"{root}/") for uri in in_folder]
    # A folder lists in S3's own order (UTF-8 bytes). The bucket lists in its server's order:
    # AWS and moto use that byte order; SeaweedFS lists each folder's keys together.
    assert folder_keys == sorted(keys, key=str.encode)
    assert sorted(bucket_keys, key=str.encode) == folder_keys
    again = objects.list_prefix(objects.parse(f"s3://{bucket}/", prefix=True), 99)
    assert [uri.removeprefix(f"s3://{bucket}/") for uri in again] == bucket_keys
