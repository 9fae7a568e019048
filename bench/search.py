"""Text-search latency through the HTTP API against the bare query encode and engine search.

.venv/bin/python bench/search.py --model mmsearch-tiny/random --n 300 --queries 200
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from common import load_photos, running_stack

from encoders import get_encoder

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def cache_counts(platform: Any) -> tuple[int, int]:
    """Text-query cache hits and misses so far, read from the server's /metrics."""
    text = platform.request("GET", "/metrics").text
    counts = {"hit": 0, "miss": 0}
    for line in text.splitlines():
        for result in counts:
            if line.startswith(f'mmsearch_query_cache_total{{result="{result}"}}'):
                counts[result] = int(float(line.rsplit(" ", 1)[1]))
    return counts["hit"], counts["miss"]


def percentiles(samples_ms: list[float]) -> str:
    p50, p95, p99 = np.percentile(samples_ms, [50, 95, 99])
    return f"p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  p99 {p99:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mmsearch-tiny/random")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument(
        "--distinct", type=int, default=0, help="distinct query texts, cycled (0: all distinct)"
    )
    args = parser.parse_args()

    photos, source = load_photos(args.n)
    queries = [f"{p.caption} #{i}" for i, p in enumerate(photos)]
    if args.distinct:
        queries = queries[: args.distinct]
    queries = (queries * (args.queries // len(queries) + 1))[: args.queries]
    encoder = get_encoder(args.model)
    encoder.embed_texts(["warm up"])
    encode_ms = []
    for text in queries[:50]:
        started = time.perf_counter()
        encoder.embed_texts([text])
        encode_ms.append((time.perf_counter() - started) * 1000)

    with running_stack(args.model, 64, photos) as stack:
        platform = stack.platform
        platform.create_collection("bench", args.model)
        items = [{"uri": f"s3://bench/{p.name}", "id": p.name} for p in photos]
        platform.wait_job(platform.ingest("bench", {"items": items}))
        platform.search("bench", {"text": "warm up"})

        def one(text: str) -> tuple[float, float]:
            started = time.perf_counter()
            body = platform.search("bench", {"text": text, "limit": 10})
            return (time.perf_counter() - started) * 1000, float(body["took_ms"])

        before = cache_counts(platform)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(one, queries))
        wall = time.perf_counter() - started
        hits, misses = (a - b for a, b in zip(cache_counts(platform), before, strict=True))
    http_ms = [r[0] for r in results]
    server_ms = [r[1] for r in results]
    print(
        f"model={args.model} points={len(photos)} ({source}) queries={len(queries)} "
        f"clients={args.clients}"
    )
    print(f"bare text encode : {percentiles(encode_ms)}")
    print(f"server took_ms   : {percentiles(server_ms)}")
    print(f"HTTP round trip  : {percentiles(http_ms)}  QPS {len(queries) / wall:.1f}")
    overhead = statistics.median(http_ms) - statistics.median(encode_ms)
    print(f"query cache      : {hits} hits, {misses} misses (hit ratio {hits / len(queries):.2f})")
    ratio = statistics.median(http_ms) / statistics.median(encode_ms)
    print(f"p50 overhead above bare encode: {overhead:.2f} ms (HTTP / encode p50 = {ratio:.2f})")


if __name__ == "__main__":
    main()
