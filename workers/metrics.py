"""Prometheus metrics of ingest, counted where the work happens (the worker process).

In standalone mode the worker shares the API's process, so these appear on the API's /metrics.
A separate worker serves them on MMSEARCH_WORKER_METRICS_PORT when that is set.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Histogram

from mmsearch.infra.jobs.store import ItemFailure

ITEMS = Counter(
    "mmsearch_items_total",
    "Items of ingest batches by outcome (indexed, failed, skipped) and error code",
    ["outcome", "code"],
)
IMAGES_EMBEDDED = Counter(
    "mmsearch_images_embedded_total",
    "Images (and video frames) the image tower embedded at ingest",
)
EMBED_SECONDS = Histogram(
    "mmsearch_batch_embed_seconds",
    "Time to load and embed the images of one ingest batch (fetch and decode overlap the model)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def count_batch(succeeded: int, failed: list[ItemFailure], skipped: list[ItemFailure]) -> None:
    """Count one batch's outcome (call once per batch, when the job counted it)."""
    if succeeded:
        ITEMS.labels("indexed", "").inc(succeeded)
    for outcome, failures in (("failed", failed), ("skipped", skipped)):
        for code, n in Tally(f.code for f in failures).items():
            ITEMS.labels(outcome, code).inc(n)
