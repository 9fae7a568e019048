"""Disk per item of the embedded engine, broken down by what the bytes hold.

.venv/bin/python bench/disk.py [--n 20000 100000 200000] [--dim 64 512] [--batch 64]
                               [--no-fsync] [--captioned 1.0] [--patch]
                               [--quantization int8|none]

For each size and dimension, a fresh EdgeVectorStore (in a forked process) receives N points
the way the platform writes them: named unit vectors ("image", and "text" for the `--captioned`
share) and a payload of uri / id / a few metadata fields / tenant, in batches of `--batch`,
flushed after each (not with `--no-fsync`, as bench/recall.py writes), with the store's own
optimize() cadence. The collection folder's allocated bytes (like du, not apparent sizes: mmap
files are sparse) are split by file kind, per point: as written, after a metadata update of
every item (`--patch`), after optimize() until nothing is left to do, and after closing and
reopening the store; with the share of vectors in an HNSW graph, the live segments and the
segment folders on disk. The reference is "vectors + payload": dim x 4 B of float32 per named
vector plus the payload's compact JSON size.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mmsearch.infra.vectors.edge.store import EdgeVectorStore
from mmsearch.infra.vectors.types import (
    TEXT_VECTOR,
    VECTOR_NAMES,
    CollectionSpec,
    FieldType,
    IndexConfig,
    VectorPoint,
)

NAME = "disk"
SCHEMA = {"tenant": FieldType.KEYWORD, "metadata.album": FieldType.KEYWORD}
KINDS = (
    "vectors",
    "int8",
    "hnsw",
    "payload",
    "payload index",
    "id tracker",
    "wal",
    "metadata",
    "other",
)


def kind_of(relative: Path) -> str:
    """What a file of a collection folder holds, from its path."""
    parts = relative.parts
    if "wal" in parts:
        return "wal"
    top = next((p for p in parts if p.startswith(("vector_", "payload_"))), "")
    if top.startswith("vector_storage"):
        name = relative.name
        if name.startswith("quantized"):
            return "int8"
        return "metadata" if name.endswith((".json", "status.dat")) else "vectors"
    if top.startswith("vector_index"):
        return "hnsw"
    if top == "payload_storage":
        return "payload"
    if top == "payload_index":
        return "payload index"
    if relative.name.startswith(("id_tracker", "mutable_id_tracker")):
        return "id tracker"
    if relative.suffix in (".json", ".info"):
        return "metadata"
    return "other"


def breakdown(folder: Path) -> dict[str, int]:
    """Allocated bytes of the folder's files by kind, and the number of segment folders."""
    sizes: Counter[str] = Counter()
    for root, _, files in os.walk(folder):
        for f in files:
            path = Path(root) / f
            sizes[kind_of(path.relative_to(folder))] += os.stat(path).st_blocks * 512
    segments = folder / "shard" / "segments"
    sizes["segment folders"] = sum(1 for p in segments.iterdir() if p.is_dir())
    return dict(sizes)


def payload_of(i: int) -> dict[str, Any]:
    """An item's payload, shaped like the platform's (infra/catalog/payload.py)."""
    return {
        "uri": f"s3://photos-bucket/2026/album-{i % 50}/IMG_{i:07d}.jpg",
        "id": f"item-{i:07d}",
        "metadata": {"album": f"album-{i % 50}", "year": 2000 + i % 25, "rating": i % 5},
        "tenant": f"tenant-{i % 4}",
    }


def has_text(i: int, captioned: float) -> bool:
    """Whether point `i` has a text vector (a captioned item): `captioned` of them do."""
    return i % 100 < round(captioned * 100)


def points(start: int, stop: int, probe: Probe, rng: np.random.Generator) -> list[VectorPoint]:
    """Points `start`..`stop`: random unit vectors (image, and text if captioned), payload."""
    x = rng.standard_normal((stop - start, 2, probe.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=2, keepdims=True)
    out = []
    for i in range(start, stop):
        named = dict(zip(VECTOR_NAMES, x[i - start], strict=True))
        if not has_text(i, probe.captioned):
            del named[TEXT_VECTOR]
        out.append(VectorPoint(str(uuid.UUID(int=i + 1)), named, payload_of(i)))
    return out


def measure(store: EdgeVectorStore, folder: Path) -> dict[str, Any]:
    """The folder's breakdown, with the shard's point, indexed and segment counts."""
    with store._collections.use(NAME) as coll:
        info = coll.shard.info()
    out: dict[str, Any] = breakdown(folder)
    out.update(
        points=info.points_count, indexed=info.indexed_vectors_count, segments=info.segments_count
    )
    return out


@dataclass(frozen=True)
class Probe:
    """One build: points, dimension, points per upsert, flush after each, captioned share."""

    n: int
    dim: int
    batch: int
    fsync: bool
    captioned: float
    patch: bool = False  # then also a metadata update of every item
    quantization: str | None = "int8"  # the index's; None: no int8 copies


# what a metadata update of every item sets: the metadata's shape, other values
PATCH = {"metadata": {"album": "album-0", "year": 2026, "rating": 5}}


def run(probe: Probe) -> dict[str, Any]:
    """Build one collection of `probe.n` points; measure it as written, optimized, reopened."""
    n, dim, batch = probe.n, probe.dim, probe.batch
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="disk-", dir=os.environ.get("TMPDIR")) as tmp:
        root, folder = Path(tmp), Path(tmp) / NAME
        store = EdgeVectorStore(root, fsync=probe.fsync)
        index = IndexConfig(quantization=probe.quantization)
        store.create_collection(CollectionSpec(NAME, dim, "bench", dict(SCHEMA), index=index))
        started = time.perf_counter()
        for start in range(0, n, batch):
            store.upsert(NAME, points(start, min(start + batch, n), probe, rng))
        out: dict[str, Any] = {"build_s": time.perf_counter() - started}
        stages = out["stages"] = {"written": measure(store, folder)}
        if probe.patch:
            ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
            for start in range(0, n, batch):
                store.set_payload(NAME, ids[start : start + batch], PATCH)
            stages["patched"] = measure(store, folder)
        with store._collections.use(NAME) as coll:
            while coll.shard.optimize():
                pass
            coll.shard.flush()
        stages["optimized"] = measure(store, folder)
        store.close()
        store = EdgeVectorStore(root)
        stages["reopened"] = measure(store, folder)
        store.close()
    payload = np.mean([len(json.dumps(payload_of(i), separators=(",", ":"))) for i in range(n)])
    texts = sum(has_text(i, probe.captioned) for i in range(n)) / n
    out["reference"] = {"vectors": dim * 4 * (1 + texts), "payload": float(payload)}
    out["named vectors"] = n * (1 + texts)
    return out


def report(n: int, dim: int, r: dict[str, Any]) -> None:
    """Print one build's per-point bytes by kind for each stage, and the ratio to the reference."""
    ref = r["reference"]
    base = ref["vectors"] + ref["payload"]
    print(
        f"\nn={n} dim={dim}: vectors {ref['vectors']:.0f} + payload {ref['payload']:.0f} "
        f"= {base:.0f} B/point; built in {r['build_s']:.0f} s"
    )
    kinds = " ".join(f"{k[:9]:>9}" for k in KINDS)
    print(f"{'stage':10} {'indexed':>7} {'seg':>4} {'dirs':>4} {kinds} {'total':>7} {'ratio':>6}")
    for stage, m in r["stages"].items():
        total = sum(m.get(k, 0) for k in KINDS) / n
        cells = " ".join(f"{m.get(k, 0) / n:9.1f}" for k in KINDS)
        indexed = m["indexed"] / r["named vectors"]
        counts = f"{indexed:7.3f} {m['segments']:>4} {m['segment folders']:>4}"
        print(f"{stage:10} {counts} {cells} {total:7.0f} {total / base:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20_000, 100_000, 200_000])
    parser.add_argument("--dim", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--batch", type=int, default=64, help="points per upsert")
    parser.add_argument("--no-fsync", action="store_true", help="no flush after each write")
    parser.add_argument("--captioned", type=float, default=1.0, help="share with a text vector")
    parser.add_argument("--patch", action="store_true", help="then update every item's metadata")
    parser.add_argument("--quantization", choices=("int8", "none"), default="int8")
    args = parser.parse_args()
    print("bytes per point on disk (allocated), by kind; seg: live segments, dirs: folders")
    for dim in args.dim:
        for n in args.n:
            with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
                quantization = None if args.quantization == "none" else args.quantization
                probe = Probe(
                    n, dim, args.batch, not args.no_fsync, args.captioned, args.patch, quantization
                )
                r = pool.submit(run, probe).result()
            report(n, dim, r)


if __name__ == "__main__":
    main()
