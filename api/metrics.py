"""Prometheus metrics of the API process."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

SEARCH_SECONDS = Histogram(
    "mmsearch_search_seconds",
    "Server time of a search request",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
QUERY_CACHE = Counter("mmsearch_query_cache_total", "Text-query embedding lookups", ["result"])
QUERY_BATCH = Histogram(
    "mmsearch_query_batch_texts",
    "Distinct texts per text-tower forward of the query micro-batcher",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus exposition of this process's metrics."""
    return generate_latest(), CONTENT_TYPE_LATEST
