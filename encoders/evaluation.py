"""Retrieval evaluation on a captioned image set: Recall@K, text→image and image→text.

The maths is kept apart from the model so it can be checked on cases with known answers.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KS = (1, 5, 10)


@dataclass(frozen=True)
class CaptionSet:
    """Images (paths) and captions, with the image index of each caption."""

    images: list[Path]
    captions: list[str]
    image_of: list[int]


def load_caption_set(captions_csv: Path, images_dir: Path, limit: int | None = None) -> CaptionSet:
    """A CSV with header `image,caption` (several captions per image allowed) and its folder.
    `limit` keeps the first N images (in CSV order) with all their captions."""
    index: dict[str, int] = {}
    images: list[Path] = []
    captions: list[str] = []
    image_of: list[int] = []
    with open(captions_csv, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
            raise ValueError(f"{captions_csv}: the header must have image and caption columns")
        for row in reader:
            name = row["image"]
            if name not in index:
                if limit is not None and len(images) >= limit:
                    continue
                path = images_dir / name
                if not path.is_file():
                    raise ValueError(f"{path}: image listed in {captions_csv.name} not found")
                index[name] = len(images)
                images.append(path)
            captions.append(row["caption"])
            image_of.append(index[name])
    if not images:
        raise ValueError(f"{captions_csv}: no captions")
    return CaptionSet(images, captions, image_of)


def recall_at_k(
    similarity: np.ndarray, image_of: Sequence[int], ks: Sequence[int] = KS
) -> dict[str, dict[int, float]]:
    """Recall@K both ways from a (captions × images) similarity matrix.

    text→image: a caption scores when its image is among the K most similar images.
    image→text: an image scores when any of its captions is among the K most similar captions.
    Ties count against the query (an equal score ranks ahead of the right answer).
    """
    n_captions, n_images = similarity.shape
    truth = np.asarray(image_of)
    if truth.shape != (n_captions,) or truth.min() < 0 or truth.max() >= n_images:
        raise ValueError("image_of must give an image index for every caption")
    correct = similarity[np.arange(n_captions), truth]
    text_rank = (similarity >= correct[:, None]).sum(axis=1) - 1  # others scoring as high or higher
    image_rank = np.full(n_images, n_captions)
    for image in range(n_images):
        own = truth == image
        if not own.any():
            continue
        column = similarity[:, image]
        best = column[own].max()
        image_rank[image] = int((column[~own] >= best).sum())
    has_caption = np.isin(np.arange(n_images), truth)
    return {
        "text_to_image": {k: float((text_rank < k).mean()) for k in ks},
        "image_to_text": {k: float((image_rank[has_caption] < k).mean()) for k in ks},
    }


def agreement(
    reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray], k: int = 10
) -> dict[str, float]:
    """How far a runtime's (image, text) unit vectors are from a reference's of the same set:
    the cosine of each vector with its reference (min and mean, images and texts), and the mean
    share of the top-k text→image and image→image results (the image itself left out) that
    both give."""
    (ref_images, ref_texts), (images, texts) = reference, other
    image_cos = (ref_images * images).sum(axis=1)
    text_cos = (ref_texts * texts).sum(axis=1)
    k = max(1, min(k, len(images) - 1))
    self_out = np.eye(len(images), dtype=bool)
    return {
        "image_cosine_min": float(image_cos.min()),
        "image_cosine_mean": float(image_cos.mean()),
        "text_cosine_min": float(text_cos.min()),
        "text_cosine_mean": float(text_cos.mean()),
        "text_to_image_top_overlap": _overlap(ref_texts @ ref_images.T, texts @ images.T, k),
        "image_to_image_top_overlap": _overlap(
            np.where(self_out, -np.inf, ref_images @ ref_images.T),
            np.where(self_out, -np.inf, images @ images.T),
            k,
        ),
    }


def _overlap(reference: np.ndarray, other: np.ndarray, k: int) -> float:
    """Mean share of each row's top k columns that the two score matrices share."""
    want = np.argpartition(-reference, k - 1, axis=1)[:, :k]
    got = np.argpartition(-other, k - 1, axis=1)[:, :k]
    shared = [len(set(a) & set(b)) for a, b in zip(want.tolist(), got.tolist(), strict=True)]
    return float(np.mean(shared)) / k
