"""Job-poll cost: GET /v1/jobs/{id} for a 100,000-item job against a 10-item job, in one run.

    .venv/bin/python bench/polling.py --polls 500

Both polls ask for a 10-error page, so the answers are the same size. Both jobs are written
straight into the platform's Redis with the job store (queuing 100k real items would have the
worker change the job while it is measured); the big one carries 1,563 counted batches and a
full error list, as a real job of that size would.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import redis
from common import running_stack

from mmsearch.infra.jobs.store import ItemFailure, JobStore

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def fill(store: JobStore, total: int, batch: int = 64) -> str:
    job_id = store.create("bench", total)
    for index in range(0, total, batch):
        size = min(batch, total - index)
        failure = ItemFailure(
            uri=f"s3://bench/{index}.jpg", id=None, code="not_found", message="gone"
        )
        store.complete_batch(job_id, f"b{index}", succeeded=size - 1, failed=[failure])
    return job_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=500)
    args = parser.parse_args()
    with running_stack("mmsearch-tiny/random", 64, []) as stack:
        platform = stack.platform
        redis_url = platform.env["MMSEARCH_REDIS_URL"]
        store = JobStore(redis.Redis.from_url(redis_url), max_errors=1000, ttl_s=3600)
        jobs = {"10 items": fill(store, 10, batch=1), "100,000 items": fill(store, 100_000)}
        timings: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.polls):  # interleaved, so drift hits both alike
            for name, job_id in jobs.items():
                started = time.perf_counter()
                response = platform.request("GET", f"/v1/jobs/{job_id}?errors_limit=10")
                timings[name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
    p50 = {name: float(np.percentile(t, 50)) for name, t in timings.items()}
    for name, samples in timings.items():
        p95 = float(np.percentile(samples, 95))
        print(f"{name:>14}: p50 {p50[name]:6.2f} ms  p95 {p95:6.2f} ms  ({args.polls} polls)")
    print(f"ratio p50 100k / 10: {p50['100,000 items'] / p50['10 items']:.3f}  (goal ≤ 1.2)")


if __name__ == "__main__":
    main()
