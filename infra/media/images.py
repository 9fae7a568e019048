"""Image decoding with limits checked before pixels are allocated (the formats: see
mmsearch.infra.media.formats)."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.formats import (
    is_media_type,
    may_be_raw,
    media_type,
    pillow_format,
    register_decoders,
)
from mmsearch.infra.media.raw import decode_raw

register_decoders()


def decode_image(data: bytes, *, max_pixels: int, min_side: int = 0) -> Image.Image:
    """Bytes → upright RGB image (first frame or page; a camera RAW file's picture); raise
    ItemError on non-images, formats it cannot decode, bombs, corruption.

    `min_side` > 0: a JPEG is decoded at the largest DCT reduction (1/2, 1/4, 1/8) that keeps
    both sides at least that long, a fraction of the work of a full decode for large photos;
    other formats are reduced by the largest such integer factor right after decoding, before
    any full-size copy is made, so only the small image is kept.
    """
    if not data:
        raise ItemError(ItemErrorCode.NOT_AN_IMAGE, "empty object")
    if may_be_raw(data):
        developed = decode_raw(data, max_pixels=max_pixels, min_side=min_side)
        if developed is not None:
            upright = ImageOps.exif_transpose(developed) or developed
            return reduced(to_rgb(reduced(upright, min_side)), min_side)
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise _unreadable(data) from exc
    except Image.DecompressionBombError as exc:
        raise ItemError(ItemErrorCode.TOO_LARGE, "image dimensions exceed the pixel limit") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ItemError(ItemErrorCode.CORRUPT_IMAGE, f"unreadable image header: {exc}") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ItemError(ItemErrorCode.CORRUPT_IMAGE, "image has no pixels")
    if width * height > max_pixels:
        raise ItemError(
            ItemErrorCode.TOO_LARGE, f"{width}x{height} exceeds the {max_pixels}-pixel limit"
        )
    try:
        image.seek(0)
        if min_side > 0 and image.format == "JPEG":
            image.draft("RGB", (min_side, min_side))
        image.load()
        small = reduced(image, min_side)
        upright = ImageOps.exif_transpose(small) or small
        return reduced(to_rgb(upright), min_side)  # modes `reduce` cannot take: after conversion
    except Image.DecompressionBombError as exc:
        raise ItemError(ItemErrorCode.TOO_LARGE, "image dimensions exceed the pixel limit") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ItemError(ItemErrorCode.CORRUPT_IMAGE, f"corrupt or truncated image: {exc}") from exc


# Modes whose pixels average meaningfully (not palette indices, bits or 16-bit integers).
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F"})


def reduced(image: Image.Image, min_side: int) -> Image.Image:
    """`image` shrunk by the largest integer factor that keeps both sides at least `min_side`
    (box filter); unchanged when no factor of 2 or more fits or the mode cannot be averaged."""
    factor = min(image.size) // min_side if min_side > 0 else 1
    if factor >= 2 and image.mode == "1":
        image = image.convert("L")  # a byte per pixel, not the three of RGB
    if factor < 2 or image.mode not in _REDUCIBLE:
        return image
    return image.reduce(factor)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to RGB; transparent areas become white, 16-bit is scaled to 8-bit."""
    if image.mode == "RGB":
        return image
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        scaled = image.point(lambda value: value / 256) if image.mode != "I" else image
        return scaled.convert("L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _unreadable(data: bytes) -> ItemError:
    """The error for bytes no decoder takes: a damaged file of a format it reads, a picture
    format it cannot decode, or no picture at all."""
    known = pillow_format(data)
    if known is not None:
        return ItemError(ItemErrorCode.CORRUPT_IMAGE, f"a damaged or truncated {known} file")
    mime = media_type(data)
    if mime.startswith("video/"):  # ingest takes it as a video (see video_items)
        return ItemError(ItemErrorCode.UNSUPPORTED_FORMAT, f"{mime} is a video, not a picture")
    if is_media_type(mime):
        return ItemError(ItemErrorCode.UNSUPPORTED_FORMAT, f"{mime} is not a format mmsearch reads")
    return ItemError(ItemErrorCode.NOT_AN_IMAGE, "not a recognised image format")
