"""Videos for tests and benchmarks, made from pictures: each picture is a shot of its own, held
for some seconds with a slow zoom (so frames within a shot differ a little, as filmed ones do)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

CONTAINERS = {"mp4": ("mp4", "libx264"), "mov": ("mov", "libx264"), "mkv": ("matroska", "libx264")}
CONTAINERS["webm"] = ("webm", "libvpx-vp9")
CONTAINERS["avi"] = ("avi", "mpeg4")


def scenes_video(
    pictures: Sequence[Image.Image],
    *,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    kind: str = "mp4",
    zoom: float = 0.04,
    gop_s: float | None = None,
    rotation: int = 0,
    out: Path | BinaryIO | None = None,
) -> bytes:
    """A video showing each picture for `seconds` in turn (`kind`: mp4, mov, mkv, webm, avi);
    `gop_s`: a keyframe at least this often (None: the encoder's choice, which puts one at each
    cut); `rotation`: display rotation (degrees counter-clockwise) stored in the stream. Written
    to `out` where given (then b"" is returned), else returned."""
    import av

    fmt, codec = CONTAINERS[kind]
    target: Path | BinaryIO = out if out is not None else io.BytesIO()
    container = av.open(str(target) if isinstance(target, Path) else target, "w", format=fmt)
    stream: Any = container.add_stream(codec, rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.time_base = Fraction(1, fps)
    if codec == "libx264":
        stream.options = {"preset": "ultrafast", "crf": "18"}
    if gop_s is not None:
        stream.codec_context.gop_size = max(1, round(gop_s * fps))
    if rotation:
        stream.set_display_rotation(rotation)
    per_shot = max(1, round(seconds * fps))
    index = 0
    for picture in pictures:
        base = picture.convert("RGB")
        for step in range(per_shot):
            frame = av.VideoFrame.from_ndarray(_zoomed(base, size, zoom * step / per_shot), "rgb24")
            frame.pts = index
            index += 1
            container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return target.getvalue() if isinstance(target, io.BytesIO) else b""


def _zoomed(picture: Image.Image, size: tuple[int, int], zoom: float) -> np.ndarray:
    """`picture` filling `size`, zoomed in by `zoom` (0.04: 4 %) about its centre."""
    width, height = picture.size
    cut_w, cut_h = width * zoom / 2, height * zoom / 2
    box = (cut_w, cut_h, width - cut_w, height - cut_h)
    resized = picture.resize(size, Image.Resampling.BILINEAR, box=box)
    return np.asarray(resized, dtype=np.uint8)
