"""Soak: repeated ingest and delete cycles, watching the platform's memory.

.venv/bin/python bench/soak.py [--model mmsearch-tiny/random] [--cycles 20] [--images 200]

Each cycle ingests the same images into one collection, checks the count, then deletes them all
by filter. Prints the platform's RSS (the API process and its worker) after the warm-up cycle
and after the last, their ratio, and the items lost across all cycles (must be 0).
"""

from __future__ import annotations

import logging

from common import bench_parser, rss_mib, running_stack

from mmsearch.infra.testing.photos import real_or_generated

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    photos, source = real_or_generated(args.images)
    items = [
        {"uri": f"s3://bench/{p.name}", "id": p.name, "metadata": {"batch": "soak"}} for p in photos
    ]
    series, lost = [], 0
    with running_stack(args.model, 32, photos) as stack:
        platform = stack.platform
        pid = platform.process.pid
        platform.create_collection("soak", args.model)
        for cycle in range(args.cycles + 1):  # cycle 0 warms up
            job = platform.wait_job(platform.ingest("soak", {"items": items}))
            count = platform.request("GET", "/v1/collections/soak").json()["count"]
            lost += len(items) - job["succeeded"] - job["failed"] + (job["succeeded"] - count)
            flt = {"must": [{"key": "batch", "match": {"value": "soak"}}]}
            response = platform.request(
                "POST", "/v1/collections/soak/items:delete", json={"filter": flt}
            )
            assert response.status_code == 200, response.text
            series.append(rss_mib(pid))
            print(f"cycle {cycle:3d}: indexed {job['succeeded']}, RSS {series[-1]:.0f} MiB")
    print(f"model={args.model} photos={source} cycles={args.cycles} images/cycle={args.images}")
    print(
        f"RSS after warm-up {series[0]:.0f} MiB, after last cycle {series[-1]:.0f} MiB, "
        f"ratio {series[-1] / series[0]:.3f}, max {max(series):.0f} MiB; items lost {lost}"
    )


if __name__ == "__main__":
    main()
