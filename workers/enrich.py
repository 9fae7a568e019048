"""Per-batch extras at ingest: options, zero-shot auto labels and near-duplicate skipping."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmsearch.encoders import Encoder
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.catalog.tenancy import scoped
from mmsearch.infra.runtime import Runtime

DEFAULT_TEMPLATE = "a photo of {}"
_LABEL_CACHE: dict[tuple[str, tuple[str, ...], str], np.ndarray] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class AutoLabels:
    """Write the `top_k` most likely of `labels` into metadata field `field`."""

    labels: tuple[str, ...]
    top_k: int = 3
    prompt_template: str = DEFAULT_TEMPLATE
    field: str = "labels"


def label_matrix(encoder: Encoder, labels: Sequence[str], template: str) -> np.ndarray:
    """(n_labels, dim) prompt embeddings, computed once per model, label set and template."""
    key = (encoder.name, tuple(labels), template)
    with _CACHE_LOCK:
        cached = _LABEL_CACHE.get(key)
    if cached is None:
        cached = encoder.embed_texts([template.replace("{}", label) for label in labels])
        with _CACHE_LOCK:
            if len(_LABEL_CACHE) > 256:
                _LABEL_CACHE.clear()
            _LABEL_CACHE[key] = cached
    return cached


def label_probabilities(encoder: Encoder, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax over labels of the model's scaled cosine logits, one row per image."""
    logits = encoder.logit_scale * (images @ labels.T)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    probs: np.ndarray = weights / weights.sum(axis=1, keepdims=True)
    return probs


def top_labels(encoder: Encoder, images: np.ndarray, spec: AutoLabels) -> list[list[str]]:
    """The `top_k` labels of each image, most likely first."""
    probs = label_probabilities(
        encoder, images, label_matrix(encoder, spec.labels, spec.prompt_template)
    )
    order = np.argsort(-probs, axis=1, kind="stable")[:, : spec.top_k]
    return [[spec.labels[j] for j in row] for row in order]


def within_batch_duplicates(vectors: np.ndarray, threshold: float) -> dict[int, int]:
    """Rows that are at least `threshold` similar to an earlier kept row: row → kept row."""
    similar = vectors @ vectors.T
    dropped: dict[int, int] = {}
    for row in range(len(vectors)):
        if row in dropped:
            continue
        for later in np.nonzero(similar[row, row + 1 :] >= threshold)[0] + row + 1:
            dropped.setdefault(int(later), row)
    return dropped


@dataclass(frozen=True)
class IngestOptions:
    """Job-wide ingest options, carried in each batch task."""

    auto_labels: AutoLabels | None = None
    dedup_threshold: float | None = None
    tenant: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> IngestOptions:
        raw = raw or {}
        labels = raw.get("auto_labels")
        return cls(
            auto_labels=AutoLabels(**{**labels, "labels": tuple(labels["labels"])})
            if labels
            else None,
            dedup_threshold=raw.get("dedup_threshold"),
            tenant=raw.get("tenant"),
        )


NO_OPTIONS = IngestOptions()


def skip_duplicates(
    runtime: Runtime,
    collection: str,
    ids: list[str],
    external: list[str],
    vectors: np.ndarray,
    threshold: float,
    tenant: str | None = None,
) -> dict[int, str]:
    """Rows whose nearest stored (or earlier in-batch) neighbour is ≥ threshold: row → its id.
    A tenant's items are compared with that tenant's items only."""
    hits = runtime.vectors.search_batch(
        collection,
        list(vectors),
        limit=2,
        score_threshold=threshold,
        filter=scoped(None, tenant),
    )
    skipped = {}
    for row, found in enumerate(hits):
        other = next((hit for hit in found if hit.id != ids[row]), None)
        if other is not None:
            skipped[row] = ItemPayload.from_payload(other.payload, other.id).id
    survivors = [row for row in range(len(ids)) if row not in skipped]
    for row, kept in within_batch_duplicates(vectors[survivors], threshold).items():
        skipped[survivors[row]] = external[survivors[kept]]
    return skipped
