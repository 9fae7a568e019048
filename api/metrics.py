"""Prometheus metrics of the API process, and gauges of the platform's state read at scrape time."""

from __future__ import annotations

import logging
import urllib.request
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

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


def render_metrics(
    broker: redis.Redis, jobs: JobStore, outbox: Outbox, worker_url: str | None = None
) -> tuple[bytes, str]:
    """The Prometheus exposition of this process's metrics (added up with those of the worker
    process at `worker_url`, if any) and the platform's state."""
    state = CollectorRegistry()
    state.register(PlatformState(broker, jobs, outbox))
    if worker_url is None:
        return generate_latest() + generate_latest(state), CONTENT_TYPE_LATEST
    merged = CollectorRegistry()
    merged.register(Merged(worker_url))
    return generate_latest(merged) + generate_latest(state), CONTENT_TYPE_LATEST


class Merged:
    """This process's metrics with a worker process's own added: the same series summed (the
    counters of work done in either process), the worker's process_/python_ series left out."""

    def __init__(self, worker_url: str) -> None:
        self.worker_url = worker_url

    def collect(self) -> Iterator[Metric]:
        families = {family.name: family for family in REGISTRY.collect()}
        for theirs in self._worker_families():
            ours = families.get(theirs.name)
            if ours is None:
                families[theirs.name] = theirs
            elif ours.type == theirs.type:
                families[theirs.name] = _summed(ours, theirs)
        yield from families.values()

    def _worker_families(self) -> list[Metric]:
        try:
            with urllib.request.urlopen(self.worker_url, timeout=2) as response:
                text = response.read().decode()
        except OSError as exc:  # a worker starting or restarting: its series come back later
            log.warning("metrics: the worker process did not answer (%s)", exc)
            return []
        return [f for f in text_string_to_metric_families(text) if f.name.startswith("mmsearch_")]


def _summed(ours: Metric, theirs: Metric) -> Metric:
    """One family whose samples are both families' added up (a `_created` time: the first)."""
    total = Metric(ours.name, ours.documentation, ours.type, ours.unit)
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for sample in [*ours.samples, *theirs.samples]:
        key = (sample.name, tuple(sorted(sample.labels.items())))
        if key not in values:
            values[key] = sample.value
        elif not sample.name.endswith("_created"):
            values[key] += sample.value
    for (name, labels), value in values.items():
        total.add_sample(name, dict(labels), value)
    return total
