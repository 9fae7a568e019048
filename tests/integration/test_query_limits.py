"""Query images against the running platform: a many-megapixel image is refused with 413
before its pixels are allocated; an ordinary one is searched."""

from __future__ import annotations

import base64

from mmsearch.infra.testing.photos import generated_jpeg
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.images import png_bomb
from tests.fixtures.platform import new_collection


def image_query(data: bytes) -> dict[str, object]:
    return {"image": {"base64": base64.b64encode(data).decode()}}


def test_large_pixel_query_images_are_refused(platform: Platform, tiny_model: str) -> None:
    name = new_collection(platform, "query-pixels", tiny_model)
    path = f"/v1/collections/{name}/search"
    bomb = png_bomb(6000, 4000)  # 24 megapixels, tens of kilobytes
    refused = platform.request("POST", path, json=image_query(bomb))
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["code"] == "too_large"
    upload = platform.request("POST", path, files={"image": ("big.png", bomb, "image/png")})
    assert upload.status_code == 413 and upload.json()["error"]["code"] == "too_large"
    found = platform.request("POST", path, json=image_query(generated_jpeg(5, size=(640, 480))))
    assert found.status_code == 200, found.text
    classified = platform.request(
        "POST", "/v1/classify", json={**image_query(bomb), "labels": ["a", "b"]}
    )
    assert classified.status_code == 413 and classified.json()["error"]["code"] == "too_large"
