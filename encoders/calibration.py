"""Inputs for int8 calibration: images from a folder (or generated stand-ins) and texts made
from templates."""

from __future__ import annotations

import hashlib
import itertools
import logging
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from mmsearch.encoders.base import ExportProblem

log = logging.getLogger(__name__)

MIN_IMAGES = 8
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}

_SUBJECTS = [
    "a dog",
    "two cats",
    "a child",
    "a woman",
    "a man",
    "a group of people",
    "a red car",
    "a bicycle",
    "a horse",
    "a bird",
    "a boat",
    "a train",
    "a plate of food",
    "a city street",
    "a mountain",
    "a beach",
    "a house",
    "a bridge",
    "a football player",
    "a black and white dog",
]
_ACTIONS = [
    "running",
    "sitting",
    "standing",
    "jumping",
    "walking",
    "playing",
    "sleeping",
    "eating",
    "parked",
    "swimming",
    "climbing",
    "riding",
]
_PLACES = [
    "on the grass",
    "in the snow",
    "near the water",
    "on a busy road",
    "in a kitchen",
    "at night",
    "under a blue sky",
    "in the park",
    "inside a room",
    "by the sea",
]


def calibration_texts() -> list[str]:
    """About two hundred caption-like texts of varied length, in a fixed order."""
    combos = itertools.product(_SUBJECTS, _ACTIONS, _PLACES)
    picked = random.Random(0).sample(list(combos), 192)
    texts = [f"{s} {a} {p}" for s, a, p in picked]
    texts[::7] = [t.split(" ", 2)[-1] for t in texts[::7]]  # some short ones
    texts[3::11] = [
        f"a photo of {t}, taken on a sunny afternoon with friends" for t in texts[3::11]
    ]
    return texts


def calibration_source(folder: Path | None) -> str:
    """What int8 is calibrated on, as a key that changes with the folder's images: `generated`,
    or the folder and a digest of its image files' names and sizes. ExportProblem for a folder
    that is not there."""
    if folder is None:
        return "generated"
    if not folder.is_dir():
        raise ExportProblem(f"calibration folder {folder} does not exist")
    h = hashlib.sha256()
    for path in _image_paths(folder):
        h.update(f"{path.relative_to(folder)}\0{path.stat().st_size}\0".encode())
    return f"{folder.resolve()}:{h.hexdigest()[:16]}"


def calibration_images(folder: Path | None, count: int) -> tuple[list[Image.Image], str]:
    """Up to `count` images from `folder` (in name order, spread over it), or generated ones
    where there is no folder or too few readable images in it (under MIN_IMAGES); and what
    they are."""
    if folder is not None:
        calibration_source(folder)  # a folder that is not there is an error, not a fallback
        images = list(_read_folder(folder, count))
        if len(images) >= MIN_IMAGES:
            return images, f"{len(images)} images from {folder}"
        log.warning(
            "only %d readable images in %s: calibrating int8 on generated images",
            len(images),
            folder,
        )
    else:
        log.warning(
            "no calibration folder: int8 is calibrated on generated images; set "
            "MMSEARCH_CALIBRATION_DIR to a folder of the collection's own photos (better fidelity)"
        )
    return [synthetic_image(seed) for seed in range(count)], f"{count} generated images"


def _read_folder(folder: Path, count: int) -> list[Image.Image]:
    paths = _image_paths(folder)
    step = max(1, len(paths) // max(count, 1))
    images: list[Image.Image] = []
    for path in paths[::step]:
        if len(images) == count:
            break
        try:
            with Image.open(path) as image:
                image.draft("RGB", (512, 512))
                images.append(image.convert("RGB"))
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
            continue
    return images


def _image_paths(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


def synthetic_image(seed: int, size: int = 256) -> Image.Image:
    """A picture-like stand-in: a smooth two-colour field, shapes with edges, grain."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    field = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    pixels = top[None, None, :] * (1 - field[..., None]) + bottom[None, None, :] * field[..., None]
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = rng.integers(0, size, 2)
        x1, y1 = x0 + rng.integers(16, size // 2), y0 + rng.integers(16, size // 2)
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((int(x0), int(y0), int(x1), int(y1)), fill=fill)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.5))))
    grain = rng.normal(0, rng.uniform(2, 12), (size, size, 3))
    noisy = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255)
    return Image.fromarray(noisy.astype(np.uint8), "RGB")
