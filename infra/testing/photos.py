"""Photos for tests and benchmarks: generated JPEGs (always available) and the optional shared
real photo sets, read in place from `../shared/data` beside a source checkout."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

# infra/testing/photos.py → the checkout's parent folder holds shared/data when it is present.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FLICKR = SHARED_DATA / "flickr8k_1k"
COCO = SHARED_DATA / "coco_mini"


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes
    caption: str


class PhotoSetMissing(FileNotFoundError):
    """A shared photo set is not where it is looked for."""


def generated_jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A deterministic JPEG of coloured shapes."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(10, 80), y0 + rng.randrange(10, 60))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def generated_photos(count: int) -> list[Photo]:
    """`count` generated JPEGs with simple captions."""
    return [
        Photo(f"gen_{i:04d}.jpg", generated_jpeg(i), f"generated picture number {i}")
        for i in range(count)
    ]


def captions_file(folder: Path) -> Path | None:
    """The `image,caption` CSV of a photo set folder (`captions.txt` or `captions.csv`)."""
    for name in ("captions.txt", "captions.csv"):
        if (folder / name).is_file():
            return folder / name
    return None


def photo_set(folder: Path, count: int) -> list[Photo]:
    """The first `count` photos of a set (by file name), each with its first caption."""
    listing = captions_file(folder)
    if listing is None:
        raise PhotoSetMissing(f"real photo set not found at {folder} (it ships beside the repo)")
    captions: dict[str, str] = {}
    with open(listing, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            captions.setdefault(row["image"], row["caption"])
    names = sorted(captions)[:count]
    return [Photo(n, (folder / "images" / n).read_bytes(), captions[n]) for n in names]


def flickr_photos(count: int) -> list[Photo]:
    """The first `count` Flickr8k photos with their first caption; PhotoSetMissing if absent."""
    return photo_set(FLICKR, count)


def real_or_generated(count: int) -> tuple[list[Photo], str]:
    """Flickr8k photos when the shared set is present, else generated ones; and which it is."""
    if captions_file(FLICKR) is not None:
        return flickr_photos(count), "flickr8k"
    return generated_photos(count), "generated"


def decode(data: bytes) -> Image.Image:
    """Bytes → RGB image, as a client would open it."""
    return Image.open(io.BytesIO(data)).convert("RGB")
