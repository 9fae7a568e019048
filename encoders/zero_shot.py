"""Zero-shot labels: a softmax over the model's scaled similarities of images to label prompts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmsearch.encoders.base import Encoder

DEFAULT_TEMPLATE = "a photo of {}"
PROMPT_CACHE_SIZE = 256  # label sets (per model and template) whose prompt embeddings are kept

_PROMPTS: dict[tuple[str, tuple[str, ...], str], np.ndarray] = {}
_PROMPTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class LabelChoice:
    """Rank `labels` for each image and keep the `top_k` most likely."""

    labels: tuple[str, ...]
    top_k: int = 3
    prompt_template: str = DEFAULT_TEMPLATE


def label_matrix(encoder: Encoder, labels: Sequence[str], template: str) -> np.ndarray:
    """(n_labels, dim) prompt embeddings, computed once per model, label set and template."""
    key = (encoder.name, tuple(labels), template)
    with _PROMPTS_LOCK:
        cached = _PROMPTS.get(key)
    if cached is None:
        cached = encoder.embed_texts([template.replace("{}", label) for label in labels])
        with _PROMPTS_LOCK:
            if len(_PROMPTS) >= PROMPT_CACHE_SIZE:
                _PROMPTS.clear()
            _PROMPTS[key] = cached
    return cached


def label_probabilities(encoder: Encoder, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax over labels of the model's scaled cosine logits, one row per image."""
    logits = encoder.logit_scale * (images @ labels.T)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    probs: np.ndarray = weights / weights.sum(axis=1, keepdims=True)
    return probs


def top_labels(encoder: Encoder, images: np.ndarray, choice: LabelChoice) -> list[list[str]]:
    """The `top_k` labels of each image, most likely first."""
    prompts = label_matrix(encoder, choice.labels, choice.prompt_template)
    probs = label_probabilities(encoder, images, prompts)
    order = np.argsort(-probs, axis=1, kind="stable")[:, : choice.top_k]
    return [[choice.labels[j] for j in row] for row in order]
