"""Prometheus metrics move with real work: ingest outcomes by code, embed time, queue depth,
jobs by status, search latency by query kind."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket


def scrape(platform: Platform) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = platform.request("GET", "/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_after_an_ingest_and_a_search(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    photos = generated_photos(3)
    bucket = upload_bucket(s3_client, photos, label="metrics")
    name = new_collection(platform, "metrics", tiny_model)
    before = scrape(platform)
    assert ("mmsearch_queue_depth", ()) in before
    assert ("mmsearch_jobs", (("status", "running"),)) in before

    items = [{"uri": f"s3://{bucket}/{p.name}"} for p in photos]
    items.append({"uri": f"s3://{bucket}/missing.jpg"})
    platform.wait_job(platform.ingest(name, {"items": items}))
    platform.search(name, {"text": "shapes"})
    after = scrape(platform)

    def grew(name_: str, **labels: str) -> float:
        return value(after, name_, **labels) - value(before, name_, **labels)

    assert grew("mmsearch_items_total", outcome="indexed", code="") == 3
    assert grew("mmsearch_items_total", outcome="failed", code="not_found") == 1
    assert grew("mmsearch_batch_embed_seconds_count") >= 1
    assert grew("mmsearch_search_seconds_count", scope="collection", kind="text") == 1
