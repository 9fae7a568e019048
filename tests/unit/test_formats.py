"""Still formats beyond JPEG and PNG: HEIC, AVIF, WebP, TIFF and camera RAW decode upright to
the picture they show, under the same pixel budget; files no decoder reads get a code that
says why."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.media.storage import is_media_name
from tests.fixtures.camera_raw import dng
from tests.fixtures.formats import STILLS, UNREADABLE, broken_dng, picture

LIMIT = 50_000_000
LOSSLESS = {"lossless.webp", "animated.webp", "pages.tiff", "camera.dng", "sideways.dng"}


def _difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


@pytest.mark.parametrize("name", sorted(STILLS))
def test_each_format_decodes_upright_to_its_picture(name: str) -> None:
    data, seen = STILLS[name](3)
    image = decode_image(data, max_pixels=LIMIT)
    assert image.mode == "RGB" and image.size == seen.size
    if name in LOSSLESS:
        assert _difference(image, seen) < 0.5
    else:
        assert _difference(image, seen) < 4  # lossy at quality 92, or demosaicked
    other = picture(4)
    assert _difference(image, seen) < _difference(image, other) / 4


@pytest.mark.parametrize("name", sorted(STILLS))
def test_each_format_keeps_to_the_pixel_budget(name: str) -> None:
    data, seen = STILLS[name](5)
    with pytest.raises(ItemError) as caught:
        decode_image(data, max_pixels=seen.width * seen.height - 1)
    assert caught.value.code == "too_large"


@pytest.mark.parametrize("preview", [True, False])
def test_a_large_raw_is_decoded_small_for_a_small_need(preview: bool) -> None:
    large = picture(6, size=(1200, 800))
    data = dng(large, preview=preview)
    image = decode_image(data, max_pixels=LIMIT, min_side=128)
    assert 128 <= min(image.size) < 400  # not the full 1200×800
    assert abs(image.width / image.height - 1.5) < 0.02


def test_a_preview_smaller_than_needed_is_not_taken_for_the_picture() -> None:
    """A thumbnail-sized preview serves a decode that needs no more; one that needs more
    develops the sensor data."""
    large = picture(7, size=(640, 480))
    data = dng(large, preview_scale=4)
    assert decode_image(data, max_pixels=LIMIT, min_side=100).size == (160, 120)  # the preview
    developed = decode_image(data, max_pixels=LIMIT, min_side=400)
    assert developed.size == (640, 480) and _difference(developed, large) < 4


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_files_it_cannot_read_say_why(name: str) -> None:
    data, code = UNREADABLE[name]
    with pytest.raises(ItemError) as caught:
        decode_image(data, max_pixels=LIMIT)
    assert caught.value.code == code


def test_damaged_files_of_formats_it_reads_are_corrupt() -> None:
    for data in (broken_dng(), STILLS["photo.heic"](1)[0][:200], STILLS["pages.tiff"](1)[0][:300]):
        with pytest.raises(ItemError) as caught:
            decode_image(data, max_pixels=LIMIT)
        assert caught.value.code == "corrupt_image"


def test_prefix_listings_take_every_format_it_reads() -> None:
    for name in [*STILLS, "x.CR2", "x.nef", "x.ARW", "x.cr3", "x.HIF", "x.jpeg", "x.MP4", "x.mov"]:
        assert is_media_name(f"folder/{name}"), name
    assert not is_media_name("folder/notes.pdf") and not is_media_name("folder/a.xmp")
