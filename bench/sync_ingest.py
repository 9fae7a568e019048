"""A source's syncs through the platform, against a prefix ingest of the same bucket.

.venv/bin/python bench/sync_ingest.py [--n 1000] [--model mmsearch-tiny/random]

N photos (Flickr8k's when ../shared holds them, else generated) in a bucket on SeaweedFS, the
standalone platform on it, warmed up by an ingest of 128 of them. One run each, printed: a
prefix ingest of the bucket into one collection (items/s from POST to succeeded); the first
sync of the same bucket as a source of another collection (the same measure), and their ratio;
a sync with nothing changed (seconds, objects compared per second, images embedded: none); a
sync after 1% of the objects were overwritten (seconds, and the updated count).
"""

from __future__ import annotations

import time
from typing import Any

from common import bench_parser, running_stack
from prometheus_client.parser import text_string_to_metric_families

from mmsearch.infra.testing.photos import generated_jpeg, real_or_generated
from mmsearch.infra.testing.platform import Platform


def embedded(platform: Platform) -> float:
    text = platform.request("GET", "/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mmsearch_images_embedded_total"
    )


def timed(platform: Platform, start: Any) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    job = platform.wait_job(start(), timeout_s=3600)
    return job, time.perf_counter() - began


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    photos, kind = real_or_generated(args.n)
    with running_stack(args.model, 64, photos) as stack:
        p, uri = stack.platform, f"s3://{stack.bucket}/"
        p.create_collection("warm-up", args.model)  # the worker's first batches start it up
        p.wait_job(p.ingest("warm-up", {"items": [{"uri": uri + x.name} for x in photos[:128]]}))
        p.create_collection("ingested", args.model)
        p.create_collection("synced", args.model)
        job, took = timed(p, lambda: p.ingest("ingested", {"prefix": uri}))
        print(f"{len(photos)} {kind} photos; prefix ingest: {job['succeeded'] / took:.1f} items/s")
        base = "/v1/collections/synced/sources"
        source = p.expect(201, "POST", base, json={"uri": uri})["source_id"]

        def sync() -> str:
            return str(p.expect(202, "POST", f"{base}/{source}/sync", json={})["job_id"])

        first, took_first = timed(p, sync)
        rate = first["succeeded"] / took_first
        print(
            f"first sync: {rate:.1f} items/s (added {first['added']}); "
            f"÷ prefix ingest {rate / (job['succeeded'] / took):.3f}"
        )
        before = embedded(p)
        same, took_same = timed(p, sync)
        print(
            f"sync, nothing changed: {took_same:.2f} s = {len(photos) / took_same:,.0f} objects/s, "
            f"unchanged {same['unchanged']}, images embedded {embedded(p) - before:.0f}"
        )
        changed = photos[: max(1, len(photos) // 100)]
        for n, photo in enumerate(changed):
            stack.s3.put_object(Bucket=stack.bucket, Key=photo.name, Body=generated_jpeg(n))
        again, took_again = timed(p, sync)
        print(f"sync, {len(changed)} overwritten: {took_again:.2f} s, updated {again['updated']}")


if __name__ == "__main__":
    main()
