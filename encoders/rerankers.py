"""Cross-modal re-rankers: image-text matching models that look at a query and an image together.

A CLIP search compares two vectors made apart; a matching model runs the query's words with
cross-attention over the image's patches and answers how likely they match, so it sees what a
single vector blurs ("a man riding a horse" against "a horse next to a man"). It costs a forward
per candidate, so it re-scores the first K hits of a search, not the collection.

Names: `itm:ORG/REPO` (a hub repository, e.g. `itm:Salesforce/blip-itm-base-coco`),
`itm:LABEL/file:DIR` (a folder written by `save_pretrained`, tokenizer and processor included,
so no download is needed) and `itm:ARCH/random[:SEED]` (random weights: `tiny-blip`, two-layer
towers for tests, or `blip-base`, BLIP base's full size, for latency figures). BLIP's matching
head (BlipForImageTextRetrieval) is the supported family. Scores are the head's match
probability, softmax over (no match, match): in [0, 1], higher is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from mmsearch.encoders.allowed import WeightsNotAllowed, weights_allowed
from mmsearch.encoders.base import ModelRef, UnknownModel, parse_model_name
from mmsearch.encoders.cache import ModelCache

BACKEND = "itm"


class Reranker(Protocol):
    """Scores how well a text matches each of some images."""

    name: str
    is_random: bool
    image_side: int  # the model's input side: images need no more pixels than this

    def score(self, text: str, images: Sequence[Image.Image]) -> np.ndarray:
        """(n,) float32 match scores, higher for a better match."""
        ...


_CACHE: ModelCache[tuple[str, str], Reranker] = ModelCache(name_of=lambda key: key[0], max_models=2)


def get_reranker(
    name: str,
    device: str = "auto",
    cache_dir: Path | None = None,
    weights_dirs: Sequence[Path] = (),
) -> Reranker:
    """The loaded re-ranker of a name (once per process and device, two kept at most); raises
    UnknownModel, WeightsNotAllowed (local weights outside `weights_dirs`) or the load's error."""
    ref = parse_reranker(name)
    if not weights_allowed(name, weights_dirs):
        raise WeightsNotAllowed(f"re-ranker {name!r} loads weights outside the weights folders")

    def load() -> Reranker:
        from mmsearch.encoders.blip_itm import BlipMatcher  # torch and transformers when needed

        return BlipMatcher(ref, device=device, cache_dir=cache_dir)

    return _CACHE.get_or_load((ref.name, device), load)


def parse_reranker(name: str) -> ModelRef:
    """A re-ranker's parsed name; UnknownModel for a name that is not `itm:...`."""
    ref = parse_model_name(name)
    if ref.backend != BACKEND:
        raise UnknownModel(f"{name!r} is not a re-ranker: re-rankers are named itm:ORG/MODEL")
    return ref
