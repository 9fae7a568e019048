"""Decoding: every common pixel format becomes upright RGB; bad bytes get stable codes."""

from __future__ import annotations

import io
import resource
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.images import decode_image
from tests.fixtures.images import png_bomb, truncated_jpeg

LIMIT = 10_000_000


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def palette_image(transparent: bool) -> bytes:
    image = Image.new("P", (40, 30), 0)
    image.putpalette([255, 0, 0] * 256)
    return encode(image, "PNG", **({"transparency": 0} if transparent else {}))


@pytest.mark.parametrize(
    ("data", "pixel"),
    [
        (encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"), (255, 0, 0)),
        (encode(Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16)), "PNG"), (156,) * 3),
        (palette_image(transparent=False), (255, 0, 0)),
        (palette_image(transparent=True), (255, 255, 255)),
        (encode(Image.new("RGBA", (40, 30), (255, 0, 0, 0)), "PNG"), (255, 255, 255)),
        (encode(Image.new("RGBA", (40, 30), (0, 0, 255, 255)), "PNG"), (0, 0, 255)),
        (encode(Image.new("L", (40, 30), 128), "PNG"), (128, 128, 128)),
    ],
    ids=["cmyk", "16-bit", "palette", "palette-alpha", "transparent", "opaque-rgba", "gray"],
)
def test_modes_become_rgb(data: bytes, pixel: tuple[int, ...]) -> None:
    image = decode_image(data, max_pixels=LIMIT)
    assert (image.mode, image.size) == ("RGB", (40, 30))
    assert image.getpixel((0, 0)) == pixel


def test_animated_gif_gives_its_first_frame() -> None:
    first = Image.new("RGB", (40, 30), (255, 0, 0)).convert("P")
    second = Image.new("RGB", (40, 30), (0, 255, 0)).convert("P")
    data = encode(first, "GIF", save_all=True, append_images=[second])
    assert decode_image(data, max_pixels=LIMIT).getpixel((0, 0)) == (255, 0, 0)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (60, 20), (10, 20, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    upright = decode_image(encode(image, "JPEG", exif=exif), max_pixels=LIMIT)
    assert upright.size == (20, 60)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_an_image"),
        (b"plain text, no pixels\n", "not_an_image"),
        (truncated_jpeg(), "corrupt_image"),
        (png_bomb(12_000, 12_000), "too_large"),
    ],
    ids=["empty", "text", "truncated", "pixel-bomb"],
)
def test_bad_bytes(data: bytes, code: str) -> None:
    with pytest.raises(ItemError) as caught:
        decode_image(data, max_pixels=LIMIT)
    assert caught.value.code == code


def test_bomb_is_refused_before_pixels_are_allocated() -> None:
    data = png_bomb(20_000, 20_000)
    assert len(data) < 200_000  # a small file that declares 400 megapixels (400 MB decoded)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ItemError):
        decode_image(data, max_pixels=LIMIT)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 * 1024  # far below the 400 MB its pixels would take


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[np.newaxis, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, np.newaxis]
    pixels = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)


def test_large_jpegs_decode_at_a_reduced_scale() -> None:
    source = gradient(2400, 1800)
    data = encode(source, "JPEG", quality=95)
    small = decode_image(data, max_pixels=LIMIT, min_side=512)
    assert small.size == (1200, 900) and small.mode == "RGB"  # 1/4 would cut below 512
    full = decode_image(data, max_pixels=LIMIT)
    assert full.size == (2400, 1800)
    # What the model sees (224 px) is the same picture either way.
    a = np.asarray(small.resize((224, 168), Image.Resampling.BICUBIC), dtype=np.float32)
    b = np.asarray(full.resize((224, 168), Image.Resampling.BICUBIC), dtype=np.float32)
    assert np.abs(a - b).mean() < 2.0


@pytest.mark.parametrize(
    ("image", "fmt", "size"),
    [
        (Image.new("CMYK", (1600, 1200), (0, 255, 255, 0)), "JPEG", (800, 600)),
        (gradient(1600, 1200), "PNG", (800, 600)),  # reduced after decoding
        (gradient(1600, 1200).convert("RGBA"), "PNG", (800, 600)),
        (gradient(1600, 1200).convert("P"), "PNG", (800, 600)),  # converted, then reduced
        (gradient(900, 500), "JPEG", (900, 500)),  # a reduction would cut below 512
    ],
    ids=["cmyk-jpeg", "png", "rgba-png", "palette-png", "small-jpeg"],
)
def test_reduced_decoding_applies_only_where_it_can(
    image: Image.Image, fmt: str, size: tuple[int, int]
) -> None:
    decoded = decode_image(encode(image, fmt), max_pixels=LIMIT, min_side=512)
    assert decoded.size == size and decoded.mode == "RGB"
    if image.mode == "CMYK":
        assert decoded.getpixel((10, 10)) == (255, 0, 0)


def test_reduced_decoding_keeps_exif_orientation() -> None:
    image = gradient(2400, 1200)
    exif = image.getexif()
    exif[0x0112] = 6
    upright = decode_image(encode(image, "JPEG", exif=exif), max_pixels=LIMIT, min_side=512)
    assert upright.size == (600, 1200)
