"""Image decoding with limits checked before pixels are allocated."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from mmsearch.infra.errors import ItemError, ItemErrorCode


def decode_image(data: bytes, *, max_pixels: int, min_side: int = 0) -> Image.Image:
    """Bytes → upright RGB image (first frame); raise ItemError on non-images, bombs, corruption.

    `min_side` > 0: a JPEG is decoded at the largest DCT reduction (1/2, 1/4, 1/8) that keeps
    both sides at least that long, a fraction of the work of a full decode for large photos.
    """
    if not data:
        raise ItemError(ItemErrorCode.NOT_AN_IMAGE, "empty object")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ItemError(ItemErrorCode.NOT_AN_IMAGE, "not a recognised image format") from exc
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
        upright = ImageOps.exif_transpose(image) or image
        return to_rgb(upright)
    except Image.DecompressionBombError as exc:
        raise ItemError(ItemErrorCode.TOO_LARGE, "image dimensions exceed the pixel limit") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ItemError(ItemErrorCode.CORRUPT_IMAGE, f"corrupt or truncated image: {exc}") from exc


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
