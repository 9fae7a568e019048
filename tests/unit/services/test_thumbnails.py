"""Thumbnails: the item's own picture, at most 256 pixels a side, within the caller's tenant."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmsearch.api.services.thumbnails import THUMBNAIL_SIDE, thumbnail
from mmsearch.infra.errors import ItemError, ItemNotFound
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.video import VideoLimits
from mmsearch.infra.media.video_items import DEFAULT_POLICY
from mmsearch.infra.vectors import EdgeVectorStore
from tests.unit.services.conftest import AddPhotos

LIMIT = 64_000_000
LARGE = (640, 480)

Thumbnail = Callable[..., np.ndarray]


@pytest.fixture()
def pixels(vectors: EdgeVectorStore, objects: ObjectStore) -> Thumbnail:
    """An item's thumbnail from the service, checked to be a JPEG, as an RGB array."""

    def call(item_id: str, tenant: str | None = None, max_pixels: int = LIMIT) -> np.ndarray:
        policy = replace(DEFAULT_POLICY, limits=VideoLimits(max_pixels=max_pixels))
        jpeg = Image.open(
            io.BytesIO(thumbnail(vectors, objects, policy, "photos", item_id, tenant))
        )
        assert jpeg.format == "JPEG"
        return np.asarray(jpeg.convert("RGB"), dtype=np.float32)

    return call


def _shrunk(path: Path) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return np.asarray(image, dtype=np.float32)


def test_a_thumbnail_is_the_item_picture_shrunk(
    pixels: Thumbnail, add_photos: AddPhotos, file_root: Path
) -> None:
    add_photos([1, 2], size=LARGE)
    add_photos([3], prefix="small")
    got = pixels("p1")
    assert got.shape == (192, 256, 3)
    own = np.abs(got - _shrunk(file_root / "p1.jpg")).mean()
    other = np.abs(got - _shrunk(file_root / "p2.jpg")).mean()
    assert own < 3 and other > 10 * own
    assert pixels("small3").shape == (120, 160, 3)  # never enlarged


def test_tenants_missing_images_and_pixel_limits(
    pixels: Thumbnail, add_photos: AddPhotos, file_root: Path
) -> None:
    add_photos([1], tenant="a", size=LARGE)
    assert pixels("p1", "a").shape == (192, 256, 3)
    for tenant in ("b", None):
        with pytest.raises(ItemNotFound) as other:
            pixels("p1", tenant)
        assert other.value.code == "item_not_found"
    with pytest.raises(ItemError) as large:
        pixels("p1", "a", max_pixels=LARGE[0] * LARGE[1] - 1)
    assert large.value.code == "too_large"
    (file_root / "p1.jpg").unlink()
    with pytest.raises(ItemNotFound) as gone:
        pixels("p1", "a")
    assert gone.value.code == "image_not_found"
