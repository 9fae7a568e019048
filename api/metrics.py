"""Prometheus metrics of the API process, and gauges of the platform's state read at scrape time."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from mmsearch.infra.errors import JobNotFound
from mmsearch.infra.jobs.store import FINAL_STATUSES
from mmsearch.infra.runtime import Runtime

log = logging.getLogger(__name__)

SEARCH_SECONDS = Histogram(
    "mmsearch_search_seconds",
    "Server time of a search request, by scope (collection, fanout) and query kind",
    ["scope", "kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
QUERY_CACHE = Counter("mmsearch_query_cache_total", "Text-query embedding lookups", ["result"])
QUERY_BATCH = Histogram(
    "mmsearch_query_batch_texts",
    "Distinct texts per text-tower forward of the query micro-batcher",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


def query_kind(body: Any) -> str:
    """text, image, item, mixed or recommend: what a search asked with."""
    if getattr(body, "recommend", None) is not None:
        return "recommend"
    for field, kind in (("text", "text"), ("image", "image"), ("item_id", "item")):
        if getattr(body, field, None) is not None:
            return kind
    return "mixed"


class PlatformState:
    """Queue depth and unfinished jobs by status, read from Redis when scraped."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        from mmsearch.workers.celery_app import INGEST_QUEUE

        depth = GaugeMetricFamily("mmsearch_queue_depth", "Ingest tasks waiting in the queue")
        jobs = GaugeMetricFamily(
            "mmsearch_jobs", "Jobs not yet finished, by status", labels=["status"]
        )
        try:
            depth.add_metric([], float(self.runtime.redis.llen(INGEST_QUEUE)))
            tally: Tally[str] = Tally({"queued": 0, "running": 0})
            for job_id in self.runtime.outbox.active_jobs():
                try:
                    status = self.runtime.jobs.get(job_id, errors_limit=0).status
                except JobNotFound:
                    continue
                if status not in FINAL_STATUSES:  # finished ones wait for the sweeper
                    tally[str(status)] += 1
            for label, n in sorted(tally.items()):
                jobs.add_metric([label], float(n))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("metrics: Redis unreachable (%s); state gauges left out", exc)
            return
        yield depth
        yield jobs


def render_metrics(runtime: Runtime) -> tuple[bytes, str]:
    """The Prometheus exposition of this process's metrics and the platform's state."""
    state = CollectorRegistry()
    state.register(PlatformState(runtime))
    return generate_latest() + generate_latest(state), CONTENT_TYPE_LATEST
