"""HEIC, AVIF, WebP, TIFF and camera RAW files in one real ingest job (S3 over HTTP, worker,
engine): each is found by its own picture, and its thumbnail shows it upright; the files no
decoder reads fail alone with a code that says why."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mmsearch.infra.testing.platform import Platform
from tests.fixtures.formats import STILLS, UNREADABLE, broken_dng, encode
from tests.fixtures.platform import new_collection, unique_name


@pytest.fixture(scope="module")
def formats_job(platform: Platform, s3_client: Any, tiny_model: str) -> dict[str, Any]:
    bucket = unique_name("formats")
    s3_client.create_bucket(Bucket=bucket)
    pictures: dict[str, Image.Image] = {}
    for seed, (key, make) in enumerate(sorted(STILLS.items())):
        data, pictures[key] = make(seed)
        s3_client.put_object(Bucket=bucket, Key=key, Body=data)
    bad = {key: code for key, (_, code) in UNREADABLE.items()}
    bad["broken.dng"] = "corrupt_image"
    for key, (data, _) in UNREADABLE.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=data)
    s3_client.put_object(Bucket=bucket, Key="broken.dng", Body=broken_dng())
    items = [{"uri": f"s3://{bucket}/{key}", "id": key} for key in [*sorted(STILLS), *bad]]
    name = new_collection(platform, "formats", tiny_model)
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    return {"name": name, "job": job, "pictures": pictures, "bad": bad}


def test_every_format_is_indexed_and_the_rest_fail_alone(
    platform: Platform, formats_job: dict[str, Any]
) -> None:
    job, bad = formats_job["job"], formats_job["bad"]
    assert (job["succeeded"], job["failed"], job["pending"]) == (len(STILLS), len(bad), 0)
    assert {e["id"]: e["code"] for e in job["errors"]} == bad
    assert all(e["message"] for e in job["errors"])


@pytest.mark.parametrize("key", sorted(STILLS))
def test_each_format_is_found_by_its_picture(
    platform: Platform, formats_job: dict[str, Any], key: str
) -> None:
    query = base64.b64encode(encode(formats_job["pictures"][key], "PNG")).decode()
    body = {"image": {"base64": query}, "limit": 1}
    (hit,) = platform.search(formats_job["name"], body)["results"]
    assert hit["id"] == key and hit["score"] > 0.99


@pytest.mark.parametrize("key", sorted(STILLS))
def test_each_format_has_an_upright_thumbnail(
    platform: Platform, formats_job: dict[str, Any], key: str
) -> None:
    response = platform.request("GET", f"/v1/collections/{formats_job['name']}/thumbnails/{key}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(response.content)).convert("RGB")
    seen = formats_job["pictures"][key]
    assert abs(thumb.width / thumb.height - seen.width / seen.height) < 0.05  # upright
    scaled = np.asarray(seen.resize(thumb.size, Image.Resampling.BICUBIC), dtype=np.float64)
    assert np.abs(np.asarray(thumb, dtype=np.float64) - scaled).mean() < 12
