"""Per-batch extras at ingest: options, zero-shot auto labels and near-duplicate skipping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mmsearch.encoders.zero_shot import LabelChoice
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.catalog.tenancy import scoped
from mmsearch.infra.vectors import VectorStore


@dataclass(frozen=True)
class AutoLabels(LabelChoice):
    """Write the `top_k` most likely of `labels` into metadata field `field`."""

    field: str = "labels"


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
    video: dict[str, Any] | None = None  # how videos are sampled, as the request set it

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
            video=raw.get("video"),
        )


NO_OPTIONS = IngestOptions()


def skip_duplicates(
    vectors: VectorStore,
    collection: str,
    ids: list[str],
    external: list[str],
    embedded: np.ndarray,
    threshold: float,
    tenant: str | None = None,
) -> dict[int, str]:
    """Rows whose nearest stored (or earlier in-batch) neighbour is ≥ threshold: row → its id.
    A tenant's items are compared with that tenant's items only."""
    hits = vectors.search_batch(
        collection,
        list(embedded),
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
    for row, kept in within_batch_duplicates(embedded[survivors], threshold).items():
        skipped[survivors[row]] = external[survivors[kept]]
    return skipped
