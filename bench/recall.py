"""Recall@10 and latency of the embedded store's HNSW settings against numpy brute force.

.venv/bin/python bench/recall.py [--n 100000] [--queries 200] [--noise 1.0] [--dim 512]
                                 [--copies 1] [--segments 8] [--only LABEL]

N clustered unit vectors of `--dim` (1000 centres + gaussian noise whose norm is `--noise` times
the centre's, fixed seed) with a keyword payload `metadata.group` (50 values: a filter keeps
~2%) and an integer payload `rank` (0..999: `rank < 300` keeps ~30%). Each config builds its
own EdgeVectorStore in a temp dir (in a fresh forked process, so RSS is its own), upserts batches
of 1000 (fsync off: the build figure is indexing, not flushing), lets the store index every
`indexing_threshold` points and then optimizes until every point is in an HNSW graph. Queries are
held-out noisy vectors near the centres, run one at a time through `EdgeVectorStore.search`.
A hit counts towards recall when its score reaches the exact K-th best score (the same as
matching the exact top-K ids, but fair to ties). `--copies C` stores N / C distinct vectors C
times each under distinct ids, as a collection of the same pictures ingested again and again.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mmsearch.infra.vectors.edge.store import EdgeVectorStore
from mmsearch.infra.vectors.types import (
    IMAGE_VECTOR,
    LEGACY_INDEX,
    CollectionSpec,
    FieldType,
    IndexConfig,
    VectorPoint,
)

CENTRES = 1000
GROUPS = 50
RANK_CUT = 300  # of 1000
K = 10
TIE = 1e-5  # float32 rounding between the engine's scores and numpy's
SEED = 7
NAME = "bench"
SCHEMA = {"metadata.group": FieldType.KEYWORD, "rank": FieldType.INTEGER}


@dataclass(frozen=True)
class Config:
    label: str
    index: IndexConfig


def grid(n: int) -> list[Config]:
    plain = IndexConfig(quantization=None)
    return [
        Config("exact scan (no HNSW)", replace(plain, indexing_threshold=n + 1)),
        Config("m16 efc100 ef128", LEGACY_INDEX),
        Config("m16 efc100 ef128 int8", replace(LEGACY_INDEX, quantization="int8")),
        Config("m32 efc256 ef256", replace(plain, hnsw_ef=256)),
        Config("m32 efc256 ef512", replace(plain, hnsw_ef=512)),
        Config("m32 efc256 ef256 int8", replace(IndexConfig(), hnsw_ef=256)),
        Config("default: m32 efc256 ef512 int8", IndexConfig()),
    ]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def dataset(n: int, q: int, noise: float, dim: int, copies: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    centres = unit(rng.standard_normal((CENTRES, dim)))
    sigma = noise / np.sqrt(dim)  # noise norm ~`noise` times the centre's

    def near(count: int) -> np.ndarray:
        which = rng.integers(0, CENTRES, count)
        return unit(centres[which] + sigma * rng.standard_normal((count, dim)).astype(np.float32))

    distinct = near(-(-n // copies))
    return {
        "x": np.tile(distinct, (copies, 1))[:n],
        "q": near(q),
        "group": rng.integers(0, GROUPS, n),
        "rank": rng.integers(0, 1000, n),
    }


def filters(data: dict[str, np.ndarray]) -> list[tuple[str, dict[str, Any] | None, np.ndarray]]:
    """(label, filter JSON, mask of the points it keeps)."""
    keyword = {"must": [{"key": "metadata.group", "match": {"value": "g7"}}]}
    ranged = {"must": [{"key": "rank", "range": {"lt": RANK_CUT}}]}
    everything = np.ones(len(data["x"]), dtype=bool)
    return [
        ("none", None, everything),
        ("keyword ~2%", keyword, data["group"] == 7),
        ("range ~30%", ranged, data["rank"] < RANK_CUT),
    ]


def truth(data: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
    """The exact K-th best score per query among the points `mask` keeps."""
    scores = data["q"] @ data["x"].T
    scores[:, ~mask] = -np.inf
    return -np.partition(-scores, K - 1, axis=1)[:, K - 1]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mib(folder: Path) -> float:
    """Allocated size (like du), not apparent size: mmap files may be sparse."""
    blocks = sum(
        os.stat(Path(root) / f).st_blocks for root, _, files in os.walk(folder) for f in files
    )
    return blocks * 512 / 2**20


def build(
    store: EdgeVectorStore, data: dict[str, np.ndarray], index: IndexConfig
) -> dict[str, int]:
    dim = data["x"].shape[1]
    store.create_collection(CollectionSpec(NAME, dim, "bench", dict(SCHEMA), index=index))
    x, groups, ranks = data["x"], data["group"], data["rank"]
    for start in range(0, len(x), 1000):
        batch = [
            VectorPoint(
                str(uuid.UUID(int=i)),
                {IMAGE_VECTOR: x[i]},
                {"metadata": {"group": f"g{groups[i]}"}, "rank": int(ranks[i])},
            )
            for i in range(start, min(start + 1000, len(x)))
        ]
        store.upsert(NAME, batch)
    with store._collections.use(NAME) as coll:  # the store's chunks are done; index what is left
        info = coll.shard.info()
        if index.indexing_threshold <= len(x):
            for _ in range(10):
                if info.indexed_vectors_count >= info.points_count:
                    break
                coll.shard.optimize()
                info = coll.shard.info()
        return {
            "points": info.points_count,
            "indexed": info.indexed_vectors_count,
            "segments": info.segments_count,
        }


def run_config(
    config: Config, data: dict[str, np.ndarray], truths: Any, segments: int
) -> dict[str, Any]:
    """One config in its own (forked) process: build, then every filter's recall and latency."""
    with tempfile.TemporaryDirectory(prefix="recall-") as tmp:
        rss_before = rss_mib()
        store = EdgeVectorStore(Path(tmp), fsync=False, max_segments=segments)
        started = time.perf_counter()
        info = build(store, data, config.index)
        out: dict[str, Any] = {"build_s": time.perf_counter() - started, **info}
        out["rss_mib"], out["rss_delta_mib"] = rss_mib(), rss_mib() - rss_before
        out["disk_mib"] = disk_mib(Path(tmp))
        rows = []
        for (label, flt, _), exact in zip(filters(data), truths, strict=True):
            for v in data["q"][:5]:  # warm up
                store.search(NAME, v, filter=flt, limit=K)
            found, took = [], []
            for v in data["q"]:
                t0 = time.perf_counter()
                hits = store.search(NAME, v, filter=flt, limit=K)
                took.append((time.perf_counter() - t0) * 1000)
                found.append([h.score for h in hits])
            recall = np.mean(
                [sum(s >= e - TIE for s in f) / K for f, e in zip(found, exact, strict=True)]
            )
            p50, p99 = np.percentile(took, [50, 99])
            rows.append((label, float(recall), float(p50), float(p99)))
        out["rows"] = rows
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="points")
    parser.add_argument("--queries", type=int, default=200, help="queries per filter")
    help_noise = "noise norm ÷ centre norm (larger: clusters overlap, a harder search)"
    parser.add_argument("--noise", type=float, default=1.0, help=help_noise)
    parser.add_argument("--segments", type=int, default=8, help="the store's max_segments")
    parser.add_argument("--dim", type=int, default=512, help="vector dimension")
    help_copies = "store N / COPIES distinct vectors COPIES times each"
    parser.add_argument("--copies", type=int, default=1, help=help_copies)
    parser.add_argument("--only", help="run only the configs whose label contains this")
    args = parser.parse_args()
    began = time.perf_counter()
    data = dataset(args.n, args.queries, args.noise, args.dim, max(1, args.copies))
    truths = [truth(data, mask) for _, _, mask in filters(data)]
    shape = f"{args.n} points ({args.copies} copies each), {args.queries} queries, "
    shape += f"dim {args.dim}, noise {args.noise}, "
    shape += f"max {args.segments} segments"
    print(f"{shape}, {os.cpu_count()} CPUs")
    header = f"{'config':31} {'build s':>8} {'RSS MiB (+Δ)':>14} {'disk MiB':>9}"
    print(f"{header}  {'filter':12} {'recall@10':>9} {'p50 ms':>8} {'p99 ms':>8}")
    configs = [c for c in grid(args.n) if not args.only or args.only in c.label]
    for config in configs:  # a fresh fork per config: its RSS is its own
        with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
            r = pool.submit(run_config, config, data, truths, args.segments).result()
        rss = f"{r['rss_mib']:.0f} (+{r['rss_delta_mib']:.0f})"
        lead = f"{config.label:31} {r['build_s']:8.1f} {rss:>14} {r['disk_mib']:9.0f}"
        for i, (label, recall, p50, p99) in enumerate(r["rows"]):
            cells = f"{label:12} {recall:9.3f} {p50:8.2f} {p99:8.2f}"
            print(f"{lead if i == 0 else ' ' * len(lead)}  {cells}", flush=True)
        print(f"{'':31} {r['indexed']}/{r['points']} vectors indexed, {r['segments']} segments")
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
