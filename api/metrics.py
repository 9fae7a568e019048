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
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from mmsearch.infra.errors import JobNotFound
from mmsearch.infra.jobs.outbox import Outbox
from mmsearch.infra.jobs.store import FINAL_STATUSES, JobStore

log = logging.getLogger(__name__)

SEARCH_SECONDS = Histogram(
    "mmsearch_search_seconds",
    "Server time of a search request, by scope (collection, fanout) and query kind",
    ["scope", "kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
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

    def __init__(self, broker: redis.Redis, jobs: JobStore, outbox: Outbox) -> None:
        self.broker, self.jobs, self.outbox = broker, jobs, outbox

    def collect(self) -> Iterator[Metric]:
        from mmsearch.workers.celery_app import INGEST_QUEUE

        depth = GaugeMetricFamily("mmsearch_queue_depth", "Ingest tasks waiting in the queue")
        by_status = GaugeMetricFamily(
            "mmsearch_jobs", "Jobs not yet finished, by status", labels=["status"]
        )
        try:
            depth.add_metric([], float(self.broker.llen(INGEST_QUEUE)))
            tally: Tally[str] = Tally({"queued": 0, "running": 0})
            for job_id in self.outbox.active_jobs():
                try:
                    status = self.jobs.get(job_id, errors_limit=0).status
                except JobNotFound:
                    continue
                if status not in FINAL_STATUSES:  # finished ones wait for the sweeper
                    tally[str(status)] += 1
            for label, n in sorted(tally.items()):
                by_status.add_metric([label], float(n))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("metrics: Redis unreachable (%s); state gauges left out", exc)
            return
        yield depth
        yield by_status


def render_metrics(broker: redis.Redis, jobs: JobStore, outbox: Outbox) -> tuple[bytes, str]:
    """The Prometheus exposition of this process's metrics and the platform's state."""
    state = CollectorRegistry()
    state.register(PlatformState(broker, jobs, outbox))
    return generate_latest() + generate_latest(state), CONTENT_TYPE_LATEST
