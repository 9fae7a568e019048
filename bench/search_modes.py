"""Search latency per mode on the embedded engine: image, keyword, hybrid with and without it.

.venv/bin/python bench/search_modes.py --n 100000 [--queries 300] [--dim 512]

N points get random unit image and caption vectors and a caption (Flickr8k's 5,000 captions,
cycled with a number, when the shared set is present; else generated sentences), in a
collection with a keyword index, built and indexed in this process (no server). Each mode then
answers the same queries at limit 10; p50 / p99 and the ratio to the image search are printed.
"Engine-fused" is the same hybrid query as one qdrant-edge query with prefetches and its own
RRF, for what fusing in Python (deterministic ties, weights) costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from mmsearch.infra.testing.photos import FLICKR, captions_file
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, VectorPoint
from mmsearch.infra.vectors.edge.queries import edge_sparse
from mmsearch.infra.vectors.keywords import query_vector
from mmsearch.infra.vectors.types import KeywordConfig

WORDS = "dog cat child man woman beach snow park street red blue runs jumps sits water ball"


def captions(n: int) -> tuple[list[str], str]:
    """`n` captions: Flickr8k's cycled (each copy numbered), else generated ones."""
    listing = captions_file(FLICKR)
    if listing is not None:
        lines = listing.read_text(encoding="utf-8").splitlines()[1:]
        found = [line.split(",", 1)[1].strip() for line in lines if "," in line]
        return [f"{found[i % len(found)]} {i // len(found)}" for i in range(n)], "flickr8k"
    vocab = WORDS.split()
    rng = np.random.default_rng(1)
    made = [" ".join(rng.choice(vocab, size=8)) for _ in range(n)]
    return made, "generated"


def timed(run: Callable[[int], object], count: int) -> list[float]:
    took = []
    for i in range(count):
        started = time.perf_counter()
        run(i)
        took.append((time.perf_counter() - started) * 1000)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    texts, source = captions(args.n)
    rng = np.random.default_rng(0)
    words = KeywordConfig(fields=("text",))
    spec = CollectionSpec("modes", args.dim, "bench", keyword=words)
    queries = [texts[int(i)].rsplit(" ", 1)[0] for i in rng.integers(0, args.n, args.queries)]
    vectors = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    with tempfile.TemporaryDirectory(prefix="modes-") as tmp:
        store = EdgeVectorStore(Path(tmp), fsync=False)
        store.create_collection(spec)
        started = time.perf_counter()
        for start in range(0, args.n, 1000):
            count = min(1000, args.n - start)
            x = rng.standard_normal((count, 2, args.dim)).astype(np.float32)
            x /= np.linalg.norm(x, axis=2, keepdims=True)
            store.upsert(
                "modes",
                [
                    VectorPoint(
                        str(uuid.UUID(int=start + j + 1)),
                        {"image": x[j, 0], "text": x[j, 1]},
                        {"text": texts[start + j], "id": str(start + j)},
                    )
                    for j in range(count)
                ],
            )
        load_s = time.perf_counter() - started
        both = lambda i: {"image": vectors[i], "text": vectors[i]}  # noqa: E731

        def engine_fused(i: int) -> object:
            with store._collections.query("modes") as coll:  # the engine's own RRF, for scale
                sparse = edge_sparse(query_vector(words, queries[i]))
                prefetches = [
                    qe.Prefetch(
                        1000, qe.Query.Nearest(vectors[i].tolist(), "image"), None, coll.params
                    ),
                    qe.Prefetch(
                        1000, qe.Query.Nearest(vectors[i].tolist(), "text"), None, coll.params
                    ),
                    qe.Prefetch(1000, qe.Query.Nearest(sparse, "keyword"), None, coll.params),
                ]
                request = qe.QueryRequest(
                    limit=10,
                    query=qe.Fusion.Rrf(k=2),  # type: ignore[arg-type]
                    prefetches=prefetches,
                    with_payload=True,
                    with_vector=False,
                )
                return coll.shard.query(request)

        modes: dict[str, Callable[[int], object]] = {
            "image": lambda i: store.search("modes", vectors[i], limit=10),
            "keyword": lambda i: store.search_keyword("modes", queries[i], limit=10),
            "hybrid, image + caption": lambda i: store.search_hybrid("modes", both(i), limit=10),
            "hybrid + keyword": lambda i: store.search_hybrid(
                "modes", both(i), keyword=queries[i], limit=10
            ),
            "hybrid + keyword, engine-fused": engine_fused,
        }
        for run in modes.values():  # warm up
            run(0)
        results = {name: timed(run, args.queries) for name, run in modes.items()}
        hits = [len(store.search_keyword("modes", q, limit=1000)) for q in queries[:50]]
        store.close()

    print(f"{args.n} points ({source} captions), dim {args.dim}, loaded in {load_s:.1f} s")
    print(
        f"{args.queries} queries each, limit 10; keyword matches per query p50 "
        f"{np.percentile(hits, 50):.0f} (of 1000 max)"
    )
    base = np.percentile(results["image"], 50)
    for name, took in results.items():
        p50, p99 = np.percentile(took, [50, 99])
        print(f"{name:32} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  p50 ÷ image {p50 / base:5.2f}")


if __name__ == "__main__":
    main()
