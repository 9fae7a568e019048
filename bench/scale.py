"""Growth: search latency while a large ingest runs, and cost per item as a collection grows.

.venv/bin/python bench/scale.py [--model mmsearch-tiny/random] [--n 20000] [--clients 4]
                                [--request-size 5000] [--no-search]
                                [--repeats variants|exact]

Each of the N items is a distinct picture: a variant of one of the photos (Flickr8k where
`../shared` has it, else generated ones), cropped, flipped and brightened at random (seeded by its
number) and scaled to 96 px, uploaded to S3 before the clock starts. `--repeats exact` ingests
the photos themselves again and again under distinct ids instead, so every vector has about
N / 1000 identical copies, which no HNSW graph searches at its usual cost (see bench/README.md).
Items go in requests of `--request-size`. Meanwhile `--clients` threads search by text without
pause. Printed, for each 10% slice of the ingest: the ingest rate, the searches' p50 / p99 / max,
the platform's RSS, the data folder's bytes on disk per item against the vectors + payload it
holds (dim x 2 x 4 B of float32 and the stored payload's JSON size, from a page of items) and
their ratio, and the Redis memory per item of the job. `--no-search` measures the ingest rate
alone, for the ratio with and without searchers.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import redis
from common import (
    Searches,
    aws_client,
    bench_parser,
    rss_mib,
    running_stack,
    search_client,
    slowest_phases,
)
from PIL import Image, ImageEnhance

from mmsearch.infra.testing.photos import Photo, real_or_generated
from mmsearch.infra.testing.platform import Platform

logging.getLogger("werkzeug").setLevel(logging.WARNING)


VARIANT_SIDE = 96
_SOURCES: list[Image.Image] = []  # the photos, shrunk, in each upload process


def _load_sources(photos: list[bytes]) -> None:
    for data in photos:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        image.thumbnail((2 * VARIANT_SIDE, 2 * VARIANT_SIDE))
        _SOURCES.append(image)


def variant(k: int) -> bytes:
    """Item k's picture: a random crop (75-100% of each side) of photo k mod the photo count,
    flipped half the time, brightness x0.8-1.2, at most VARIANT_SIDE px, as a JPEG."""
    rng = np.random.default_rng(k)
    image = _SOURCES[k % len(_SOURCES)]
    w, h = image.size
    cw, ch = int(w * rng.uniform(0.75, 1.0)), int(h * rng.uniform(0.75, 1.0))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = image.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = ImageEnhance.Brightness(out).enhance(float(rng.uniform(0.8, 1.2)))
    out.thumbnail((VARIANT_SIDE, VARIANT_SIDE))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _put_variants(endpoint: str, bucket: str, start: int, stop: int) -> int:
    client = aws_client(endpoint)
    for k in range(start, stop):
        client.put_object(Bucket=bucket, Key=f"variants/{k}.jpg", Body=variant(k))
    return stop - start


def upload_variants(photos: list[Photo], endpoint: str, bucket: str, n: int) -> None:
    """Make and upload the N variants, in processes (two per core)."""
    started, step = time.perf_counter(), 2000
    workers = 2 * (os.cpu_count() or 1)
    data = [p.data for p in photos]
    with ProcessPoolExecutor(workers, initializer=_load_sources, initargs=(data,)) as pool:
        starts = list(range(0, n, step))
        stops = [min(n, s + step) for s in starts]
        done = sum(
            pool.map(_put_variants, [endpoint] * len(starts), [bucket] * len(starts), starts, stops)
        )
    print(f"uploaded {done} variants in {time.perf_counter() - started:.0f} s")


def requests_of(
    names: list[str], bucket: str, n: int, size: int, exact: bool
) -> Iterator[list[dict[str, str]]]:
    """Ingest requests of `size` items, ids distinct: the variants, or (`exact`) the uploaded
    photos cycled."""
    if exact:
        keys = [(f"{k}-{names[k % len(names)]}", names[k % len(names)]) for k in range(n)]
    else:
        keys = [(str(k), f"variants/{k}.jpg") for k in range(n)]
    items = [{"uri": f"s3://{bucket}/{key}", "id": item_id} for item_id, key in keys]
    for start in range(0, n, size):
        yield items[start : start + size]


def disk_bytes(folder: Path) -> int:
    """Bytes the folder's files take on disk (allocated blocks, not apparent sizes)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def content_bytes(platform: Platform, name: str) -> float:
    """Bytes per item of what the collection holds: two float32 vectors, and the payload's
    compact JSON (a page of items, vectors left out)."""
    dim = platform.request("GET", f"/v1/collections/{name}").json()["dim"]
    page = platform.request("GET", f"/v1/collections/{name}/points?limit=100").json()["data"]
    stored = [{k: v for k, v in item.items() if v is not None and k != "vectors"} for item in page]
    sizes = [len(json.dumps(p, separators=(",", ":"))) for p in stored]
    return dim * 2 * 4 + float(np.mean(sizes or [0]))


@dataclass
class Slices:
    """Per-10% figures of the ingest, printed as each slice completes; a slice's end is the
    moment the count crossed its boundary, interpolated between two polls."""

    n: int
    started: float
    done: int = 0
    rates: list[float] = field(default_factory=list)
    last: tuple[float, int] = (0.0, 0)  # the previous poll: time, count
    since: float = 0.0  # when the current slice began
    content: float = 0.0  # bytes per item of vectors + payload, once items exist

    def __post_init__(self) -> None:
        self.last, self.since = (self.started, 0), self.started

    def record(self, count: int, searches: Searches, pid: int, data_dir: Path) -> None:
        now = time.perf_counter()
        (then, before), size = self.last, self.n / 10
        while self.done < 10 and count >= (self.done + 1) * size:
            boundary = (self.done + 1) * size
            crossed = then + (boundary - before) / max(count - before, 1) * (now - then)
            self.done += 1
            self.rates.append(size / max(crossed - self.since, 1e-3))
            latencies = searches.between(self.since, crossed) or [0.0]
            p50, p99 = np.percentile(latencies, [50, 99])
            per_item = disk_bytes(data_dir / "qdrant") / max(count, 1)
            print(
                f"{self.done * 10:>5}% {count:>7} {self.rates[-1]:>7.1f} {p50:>8.1f} {p99:>7.1f}"
                f" {max(latencies):>7.1f} {rss_mib(pid):>8.0f} {per_item:>11.0f}"
                f" {self.content:>9.0f} {per_item / max(self.content, 1):>6.2f}"
            )
            self.since = crossed
        self.last = (now, count)


def idle_latencies(base: str, captions: list[str], seconds: float = 5.0) -> list[float]:
    """One client's search latencies on the idle platform (the second half, warmed up)."""
    idle, stop = Searches(), threading.Event()
    thread = threading.Thread(target=search_client, args=(base, "scale", captions, 0, stop, idle))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return [ms for _, ms in idle.done[len(idle.done) // 2 :]]


def summary(n: int, jobs: list[dict], elapsed: float, slices: Slices, out: Searches) -> None:
    indexed = sum(job["succeeded"] for job in jobs)
    failed = sum(job["failed"] for job in jobs)
    ratio = slices.rates[-1] / slices.rates[0] if slices.rates else float("nan")
    print(
        f"ingest: sent {n}, indexed {indexed}, failed {failed}, lost {n - indexed - failed}, "
        f"{n / elapsed:.1f} items/s overall; last slice / first = {ratio:.2f}"
    )
    everything = [ms for _, ms in out.done]
    if everything:
        p50, p99 = np.percentile(everything, [50, 99])
        print(
            f"search during ingest: {len(everything)} requests, {len(out.errors)} errors, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(everything):.1f} ms, "
            f"over 250 ms: {sum(ms > 250 for ms in everything)}"
        )
        print(slowest_phases(out))


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--request-size", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--repeats", choices=("variants", "exact"), default="variants")
    args = parser.parse_args()
    photos, source = real_or_generated(1000)
    captions = [p.caption for p in photos]
    exact = args.repeats == "exact"
    with running_stack(args.model, args.batch_size, photos) as stack:
        if not exact:
            upload_variants(photos, stack.s3.meta.endpoint_url, stack.bucket, args.n)
        platform = stack.platform
        platform.create_collection("scale", args.model)
        data_dir = Path(platform.env["MMSEARCH_DATA_DIR"])
        broker = redis.Redis.from_url(platform.env["MMSEARCH_REDIS_URL"])
        idle = idle_latencies(platform.base, captions)
        print(
            f"model={args.model} photos={source} repeats={args.repeats} n={args.n} "
            f"clients={args.clients}"
        )
        print(
            f"idle search: p50 {np.percentile(idle, 50):.1f} ms, p99 {np.percentile(idle, 99):.1f}"
        )
        out, stop = Searches(), threading.Event()
        clients = [
            threading.Thread(
                target=search_client, args=(platform.base, "scale", captions, k, stop, out)
            )
            for k in range(0 if args.no_search else args.clients)
        ]
        for thread in clients:
            thread.start()
        redis_before = redis_peak = broker.info("memory")["used_memory"]
        slices = Slices(args.n, time.perf_counter())
        names = [p.name for p in photos]
        chunks = requests_of(names, stack.bucket, args.n, args.request_size, exact)
        jobs = [platform.ingest("scale", {"items": chunk}) for chunk in chunks]
        head = " slice  items   img/s   p50 ms  p99 ms  max ms  RSS MiB  disk B/item"
        print(f"{head}  vec+pay  ratio")
        while slices.done < 10:
            count = platform.request("GET", "/v1/collections/scale").json()["count"]
            redis_peak = max(redis_peak, broker.info("memory")["used_memory"])
            if count and not slices.content:
                slices.content = content_bytes(platform, "scale")
            slices.record(count, out, platform.process.pid, data_dir)
            time.sleep(1.0)
        stop.set()
        for thread in clients:
            thread.join()
        finished = [platform.wait_job(job, timeout_s=3600) for job in jobs]
        summary(args.n, finished, time.perf_counter() - slices.started, slices, out)
    print(f"redis: {(redis_peak - redis_before) / args.n:.0f} bytes per job item at peak")


if __name__ == "__main__":
    main()
