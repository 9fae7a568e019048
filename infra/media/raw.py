"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, ...) through LibRaw (rawpy).

A RAW file usually carries the camera's own rendering as an embedded JPEG preview, often at
full size: where that preview is at least as large as the decode needs, it is the picture
(fast, and the colours the photographer saw). Otherwise the sensor data is demosaicked with the
camera's white balance, as exposed (no automatic brightening, which would move with the
picture's content), at half size where half is still large enough. Either way the picture
is turned upright by the file's orientation and kept within the pixel budget.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from mmsearch.infra.errors import ItemError, ItemErrorCode

# LibRaw's orientation codes → the Pillow transposition that turns the picture upright.
_FLIPS = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.ROTATE_90,
    6: Image.Transpose.ROTATE_270,
}
_ORIENTATION = 0x0112
FULL_SIZE = 1 << 30  # no reduction wanted: a preview must be the raw's own size


def decode_raw(data: bytes, *, max_pixels: int, min_side: int) -> Image.Image | None:
    """The picture of a camera RAW file, or None when LibRaw does not take `data` as one.

    Raise ItemError: `too_large` beyond `max_pixels`, `unsupported_format` for a RAW file LibRaw
    recognises but cannot develop, `corrupt_image` for a damaged one.
    """
    try:
        import rawpy
    except ImportError:
        return None
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawFileUnsupportedError:
        return None
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ItemError(ItemErrorCode.CORRUPT_IMAGE, f"unreadable camera RAW file: {exc}") from exc
    with raw:
        sizes = raw.sizes
        width, height = int(sizes.width), int(sizes.height)
        if width <= 0 or height <= 0:
            raise ItemError(ItemErrorCode.CORRUPT_IMAGE, "camera RAW file has no pixels")
        if width * height > max_pixels:
            raise ItemError(
                ItemErrorCode.TOO_LARGE, f"{width}x{height} exceeds the {max_pixels}-pixel limit"
            )
        wanted = min(min_side if min_side > 0 else FULL_SIZE, width, height)
        preview = _preview(raw, wanted, max_pixels)
        if preview is not None:
            return preview if _oriented(preview) else _upright(preview, int(sizes.flip))
        return _developed(raw, rawpy, half=min(width, height) // 2 >= wanted > 0)


def _preview(raw: Any, wanted: int, max_pixels: int) -> Image.Image | None:
    """The embedded preview, where there is one at least `wanted` pixels on its shorter side."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, OSError, ValueError):
        return None  # none, or one LibRaw cannot hand out: develop the sensor data instead
    image: Image.Image
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            image = Image.open(io.BytesIO(thumb.data))
            if image.width * image.height > max_pixels or min(image.size) < wanted:
                return None
            image.draft("RGB", (wanted, wanted))
            image.load()
        else:
            pixels = np.asarray(thumb.data)
            if pixels.ndim != 3 or min(pixels.shape[:2]) < wanted:
                return None
            image = Image.fromarray(pixels.astype(np.uint8))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None  # a damaged preview: the sensor data may still be good
    return image


def _oriented(image: Image.Image) -> bool:
    """Whether a preview carries its own orientation (then it is turned by that instead)."""
    return bool(image.getexif().get(_ORIENTATION, 1) != 1)


def _upright(image: Image.Image, flip: int) -> Image.Image:
    transpose = _FLIPS.get(flip)
    return image.transpose(transpose) if transpose is not None else image


def _developed(raw: Any, rawpy: Any, half: bool) -> Image.Image:
    """The sensor data demosaicked (camera white balance, 8 bits, turned upright)."""
    try:
        pixels = raw.postprocess(
            use_camera_wb=True, output_bps=8, half_size=half, no_auto_bright=True
        )
    except (rawpy.LibRawNotImplementedError, rawpy.LibRawUnsupportedThumbnailError) as exc:
        raise ItemError(
            ItemErrorCode.UNSUPPORTED_FORMAT, f"a camera RAW file LibRaw cannot develop: {exc}"
        ) from exc
    except (rawpy.LibRawError, MemoryError, ValueError) as exc:
        raise ItemError(ItemErrorCode.CORRUPT_IMAGE, f"corrupt camera RAW data: {exc}") from exc
    return Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
