"""Text-search latency through the HTTP API against the bare query encode and engine search.

.venv/bin/python bench/search.py --model mmsearch-tiny/random --n 1000 [--clients 1,4,16]
.venv/bin/python bench/search.py --model ViT-B-32/random --n 200 --clients 1 [--distinct 20]

Each level runs its clients back to back for --seconds against `mmsearch standalone` over HTTP.
The bare figures are measured in this process before the server starts: the text encode at
batch 1 on the same model, and an embedded-engine search over the same image vectors. The
overhead is HTTP latency minus (encode + engine), at p50 and at p99.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from common import bench_parser, running_stack

from mmsearch.encoders import get_encoder
from mmsearch.infra.testing.photos import decode, real_or_generated

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def server_counters(platform: Any) -> dict[str, float]:
    """Cache hits and misses and the micro-batcher's forwards and texts so far, read from the
    server's /metrics."""
    wanted = {
        'mmsearch_query_cache_total{result="hit"}': "hits",
        'mmsearch_query_cache_total{result="miss"}': "misses",
        "mmsearch_query_batch_texts_count": "forwards",
        "mmsearch_query_batch_texts_sum": "texts",
    }
    counts = dict.fromkeys(wanted.values(), 0.0)
    for line in platform.request("GET", "/metrics").text.splitlines():
        series, _, value = line.rpartition(" ")
        if series in wanted:
            counts[wanted[series]] = float(value)
    return counts


def server_timing(header: str) -> dict[str, float]:
    """The phases of a `Server-Timing` header, in milliseconds."""
    phases = (part.strip().split(";dur=") for part in header.split(","))
    return {name: float(ms) for name, ms in phases}


def percentiles(samples_ms: list[float]) -> str:
    p50, p95, p99 = np.percentile(samples_ms, [50, 95, 99])
    return f"p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  p99 {p99:7.2f} ms"


def engine_ms(model: str, photos: list[Any], queries: list[str]) -> list[float]:
    """Bare engine search times: the same vectors in an embedded store in this process."""
    from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, VectorPoint

    encoder = get_encoder(model)
    images = [decode(p.data) for p in photos]
    vectors = np.concatenate(
        [encoder.embed_images(images[i : i + 64]) for i in range(0, len(images), 64)]
    )
    texts = encoder.embed_texts(queries[:200])
    with tempfile.TemporaryDirectory(prefix="engine-") as tmp:
        store = EdgeVectorStore(Path(tmp), fsync=False)
        store.create_collection(CollectionSpec("bench", encoder.dim, model))
        points = [
            VectorPoint(str(uuid.UUID(int=i)), {"image": v}, {"uri": p.name, "id": p.name})
            for i, (v, p) in enumerate(zip(vectors, photos, strict=True))
        ]
        for start in range(0, len(points), 256):
            store.upsert("bench", points[start : start + 256])
        took = []
        for q in texts:
            started = time.perf_counter()
            store.search("bench", q, limit=10)
            took.append((time.perf_counter() - started) * 1000)
        store.close()
    return took


def query_text(captions: list[str], distinct: int, clients: int, i: int) -> str:
    """The i-th query of a level: the first `distinct` captions cycled, or a new text each time."""
    if distinct:
        return captions[i % distinct]
    return f"{captions[i % len(captions)]} c{clients} #{i}"


def run_level(
    platform: Any, captions: list[str], distinct: int, clients: int, seconds: float
) -> dict[str, Any]:
    """`clients` threads send text queries back to back for `seconds`: every text new, or the
    first `distinct` captions cycled."""
    deadline = time.perf_counter() + seconds
    samples: list[list[float]] = [[] for _ in range(clients)]
    took: list[list[float]] = [[] for _ in range(clients)]
    inner: list[list[float]] = [[] for _ in range(clients)]

    def client(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            text = query_text(captions, distinct, clients, i)
            response = platform.request(
                "POST", "/v1/collections/bench/search", json={"text": text, "limit": 10}
            )
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            phases = server_timing(response.headers["Server-Timing"])
            samples[k].append(elapsed)
            took[k].append(float(response.json()["took_ms"]))
            inner[k].append(elapsed - phases["encode"] - phases["search"])
            i += clients

    before = server_counters(platform)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    after = server_counters(platform)
    delta = {k: after[k] - before[k] for k in after}
    http = [x for per in samples for x in per]
    server = [x for per in took for x in per]
    api = [x for per in inner for x in per]
    return {"http": http, "server": server, "qps": len(http) / wall, "api": api, **delta}


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--n", type=int, default=300, help="points in the collection")
    parser.add_argument("--clients", default="1,4,16", help="concurrent clients per level")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each level")
    parser.add_argument(
        "--distinct", type=int, default=0, help="distinct query texts, cycled (0: all distinct)"
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]

    photos, source = real_or_generated(args.n)
    captions = [f"{p.caption} #{i}" for i, p in enumerate(photos)]
    encoder = get_encoder(args.model)
    encoder.embed_texts(["warm up"])
    encode = []
    for text in (query_text(captions, 0, 1, i) for i in range(50)):
        started = time.perf_counter()
        encoder.embed_texts([text])
        encode.append((time.perf_counter() - started) * 1000)
    engine = engine_ms(args.model, photos, captions)

    results = {}
    with running_stack(args.model, 64, photos) as stack:
        platform = stack.platform
        platform.create_collection("bench", args.model)
        items = [{"uri": f"s3://bench/{p.name}", "id": p.name} for p in photos]
        platform.wait_job(platform.ingest("bench", {"items": items}))
        platform.search("bench", {"text": "warm up"})
        for clients in levels:
            results[clients] = run_level(platform, captions, args.distinct, clients, args.seconds)

    print(f"model={args.model} points={len(photos)} ({source}) {args.seconds:.0f} s per level")
    print(f"bare text encode : {percentiles(encode)}")
    print(f"bare engine      : {percentiles(engine)}")
    base = {
        q: e + g
        for q, e, g in zip(
            (50, 99), np.percentile(encode, [50, 99]), np.percentile(engine, [50, 99]), strict=True
        )
    }
    for clients, r in results.items():
        p50, p99 = np.percentile(r["http"], [50, 99])
        hit_ratio = r["hits"] / max(1, r["hits"] + r["misses"])
        print(
            f"{clients:3d} client(s)  : {percentiles(r['http'])}  QPS {r['qps']:7.1f}  "
            f"cache hit ratio {hit_ratio:.2f}  texts per forward "
            f"{r['texts'] / max(1, r['forwards']):.2f}"
        )
        print(
            f"{'':15}  server took_ms: {percentiles(r['server'])}\n"
            f"{'':15}  overhead above encode + engine: p50 {p50 - base[50]:7.2f} ms "
            f"(goal <= 5), p99 {p99 - base[99]:7.2f} ms (goal <= 15)\n"
            f"{'':15}  overhead above the server's own encode + search (Server-Timing): "
            f"{percentiles(r['api'])}"
        )


if __name__ == "__main__":
    main()
