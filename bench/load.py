"""Bounded load: concurrent search clients while a 1,000-image ingest runs, on loopback.

.venv/bin/python bench/load.py [--model mmsearch-tiny/random] [--clients 16] [--images 1000]
                               [--seconds 60]

Prints the search requests, errors (must be 0), QPS and latency percentiles, and for the ingest
the items sent, indexed, failed and lost (must be 0), all from one run.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from common import Searches, bench_parser, running_stack, search_client

from mmsearch.infra.testing.photos import real_or_generated

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    photos, source = real_or_generated(args.images)
    captions = [p.caption for p in photos]
    with running_stack(args.model, 32, photos) as stack:
        platform = stack.platform
        platform.create_collection("load", args.model)
        warm = [{"uri": f"s3://bench/{p.name}", "id": p.name} for p in photos[:100]]
        platform.wait_job(platform.ingest("load", {"items": warm}))
        items = [{"uri": f"s3://bench/{p.name}", "id": p.name} for p in photos]
        started = time.perf_counter()
        job_id = platform.ingest("load", {"items": items})
        stop, out = threading.Event(), Searches()
        with ThreadPoolExecutor(args.clients) as pool:
            for k in range(args.clients):
                pool.submit(search_client, platform.base, "load", captions, k, stop, out)
            time.sleep(args.seconds)
            stop.set()
        job = platform.wait_job(job_id, timeout_s=1800)
        ingest_s = time.perf_counter() - started
        count = platform.request("GET", "/v1/collections/load").json()["count"]
    samples, errors = [ms for _, ms in out.done], out.errors
    p50, p95, p99 = np.percentile(samples, [50, 95, 99])
    sent, indexed, failed = len(items), job["succeeded"], job["failed"]
    print(f"model={args.model} photos={source} clients={args.clients} {args.seconds:.0f} s")
    print(
        f"search: {len(samples)} requests, {len(errors)} errors, "
        f"QPS {len(samples) / args.seconds:.1f}, "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"
    )
    print(
        f"ingest: sent {sent}, indexed {indexed}, failed {failed}, lost {sent - indexed - failed}, "
        f"collection count {count}, job {job['status']} in {ingest_s:.1f} s"
    )
    for error in errors[:5]:
        print("  error:", error)


if __name__ == "__main__":
    main()
