"""Export and import at scale: N points written through the points endpoint, exported to a folder
with `mmsearch export`, imported again with `mmsearch import --as`, and compared.

.venv/bin/python bench/transfer.py [--n 100000] [--model mmsearch-tiny/random] [--batch 500]

The points carry random unit vectors (image, and text on every other one) and a payload like an
ingested item's. Printed: the write rate of the seeding, then for each command its points/s, its
peak RSS (the command's own process, from wait4) and the export folder's bytes per point; the
platform's RSS at the end; and whether the copy holds the same count and the same vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from common import bench_parser, rss_mib, running_stack

from mmsearch.infra.testing.photos import generated_photos

NAMES = ("source", "copy")


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def seed(platform: Any, name: str, n: int, dim: int, batch: int) -> float:
    """Write n points in requests of `batch`; points per second."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for start in range(0, n, batch):
        count = min(batch, n - start)
        images, texts = unit_rows(rng, count, dim), unit_rows(rng, count, dim)
        points = []
        for k in range(count):
            i = start + k
            vectors = {"image": images[k].tolist()}
            if i % 2 == 0:
                vectors["text"] = texts[k].tolist()
            metadata = {"album": f"album-{i % 97}", "year": 2000 + i % 25}
            points.append(
                {
                    "id": str(uuid.UUID(int=i + 1)),
                    "uri": f"s3://bench/photos/{i:07d}.jpg",
                    "metadata": metadata,
                    "vectors": vectors,
                }
            )
        path = f"/v1/collections/{name}/points"
        platform.request("POST", path, json={"points": points}).raise_for_status()
    return n / (time.perf_counter() - started)


def command(platform: Any, *args: str) -> tuple[float, float]:
    """Run `mmsearch ARGS` against the platform; its seconds and peak RSS (MiB)."""
    env = {**os.environ, "MMSEARCH_API_URL": platform.base}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "mmsearch.api.cli", *args], env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"mmsearch {' '.join(args)} exited with {process.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def digests(platform: Any, name: str) -> dict[str, str]:
    """Every item of a collection: its id and a digest of its payload and vectors."""
    found, cursor = {}, None
    while True:
        params = {"limit": 1000, "vectors": "true", "after": cursor}
        page = platform.request("GET", f"/v1/collections/{name}/points", params=params).json()
        for item in page["data"]:
            body = json.dumps(item, sort_keys=True).encode()
            found[item["id"]] = hashlib.blake2b(body, digest_size=16).hexdigest()
        if (cursor := page["next"]) is None:
            return found


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with (
        running_stack(args.model, 64, generated_photos(1)) as stack,
        tempfile.TemporaryDirectory(prefix="mmsearch-export-") as tmp,
    ):
        platform = stack.platform
        dim = platform.create_collection("source", args.model)["dim"]
        rate = seed(platform, "source", args.n, dim, args.batch)
        print(f"model={args.model} dim={dim} n={args.n}: seeded at {rate:.0f} points/s")
        folder = Path(tmp) / "export"
        seconds, peak = command(platform, "export", "source", str(folder))
        size = folder_bytes(folder)
        print(
            f"export: {args.n / seconds:.0f} points/s ({seconds:.1f} s), peak RSS {peak:.0f} MiB,"
            f" folder {size / 2**20:.0f} MiB = {size / args.n:.0f} B/point"
            f" (vectors alone {dim * 4 * 1.5:.0f} B/point)"
        )
        seconds, peak = command(platform, "import", str(folder), "--as", "copy")
        print(f"import: {args.n / seconds:.0f} points/s ({seconds:.1f} s), peak RSS {peak:.0f} MiB")
        counts = [platform.request("GET", f"/v1/collections/{c}").json()["count"] for c in NAMES]
        same = digests(platform, "source") == digests(platform, "copy")
        print(
            f"copy: counts {counts[0]} / {counts[1]}, every item the same, vectors included: "
            f"{same}; "
            f"platform RSS {rss_mib(platform.process.pid):.0f} MiB"
        )


if __name__ == "__main__":
    main()
