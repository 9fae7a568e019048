"""A source's sync over a large listing: a dry run (list and compare, nothing written) over N
generated objects against the same at N/10, to show that its memory does not grow with N.

.venv/bin/python bench/sync.py [--n 100000] [--s3] [--page 1000]

The source is a folder of N tiny files (or, with --s3, a bucket on a local SeaweedFS holding N
objects). The collection (the embedded engine, random 64-d vectors) holds the items a sync would
have written for 90% of them, a ninth of those since changed, and 1% more whose objects are gone;
the sync runs on a real Redis and calls the engine in its own process, as the worker's task does
in the standalone platform. Printed for N/10 and N: objects
listed and compared per second, the process's peak RSS during the sync (sampled every 5 ms), the
Python heap's peak during a second dry run (tracemalloc) and the job's counts; then the ratios
of the two sizes' figures (flat memory: near 1).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import redis
from celery import Celery

from mmsearch.api.engine_process import EngineProcess
from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.catalog.payload import (
    SOURCE_ID_KEY,
    SYNC_FIELD,
    ItemPayload,
    SourceStamp,
)
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.jobs.outbox import Outbox
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.local_redis import LocalRedis
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import Settings
from mmsearch.infra.sync.sources import Source, SourceStore, new_source_id
from mmsearch.infra.testing.s3 import aws_client, local_s3, s3_settings_env
from mmsearch.infra.vectors import CollectionSpec, FieldType, VectorPoint, VectorStore
from mmsearch.infra.vectors.shared import RemoteVectors
from mmsearch.workers.celery_app import celery_config
from mmsearch.workers.dispatch import TaskSender
from mmsearch.workers.schedule import Syncs
from mmsearch.workers.sync import SyncContext, run_sync

DIM, BODY = 64, b"\xff\xd8 not decoded by a dry run"


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


class PeakRss:
    """The highest RSS seen while in the block, sampled from a thread."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def keys(n: int) -> list[str]:
    return [f"{i % 97:02d}/{i // 97 % 50:02d}/img{i:07d}.jpg" for i in range(n)]


def folder_source(root: Path, n: int) -> tuple[str, Callable[[str], int]]:
    folder = root / f"library-{n}"
    for key in keys(n):
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(BODY)
    return file_uri(folder) + "/", lambda key: (folder / key).stat().st_mtime_ns


def bucket_source(client: Any, n: int) -> str:
    bucket = f"library-{n}"
    client.create_bucket(Bucket=bucket)
    for key in keys(n):
        client.put_object(Bucket=bucket, Key=key, Body=BODY)
    return f"s3://{bucket}/"


def hold(
    vectors: VectorStore,
    spec: CollectionSpec,
    source: Source,
    n: int,
    mtime: Callable[[str], int] | None,
    etag: str | None,
) -> None:
    """Items for 90% of the keys (a ninth changed since) and 1% more whose objects are gone."""
    rng = np.random.default_rng(0)
    names = keys(n)
    held = [key for i, key in enumerate(names) if i % 10 != 9]
    held += [f"gone/{i:07d}.jpg" for i in range(n // 100)]
    for start in range(0, len(held), 1000):
        rows = rng.standard_normal((len(held[start : start + 1000]), DIM)).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        points = []
        for row, key in zip(rows, held[start : start + 1000], strict=True):
            size = len(BODY) + (1 if zlib.crc32(key.encode()) % 9 == 0 else 0)  # a ninth changed
            stamp = SourceStamp(
                source.id,
                key,
                size,
                etag=etag,
                mtime_ns=mtime(key) if mtime and not key.startswith("gone/") else None,
                listed_ns=time.time_ns() + 10**12,
            )
            payload = ItemPayload(source.uri + key, key, source=stamp, sync="earlier")
            point_id = item_point_id(spec, key, None)
            points.append(VectorPoint(point_id, {"image": row}, payload.to_payload()))
        vectors.upsert(spec.name, points)


def run(args: argparse.Namespace, n: int, work: Path, s3: Any) -> tuple[float, float, float]:
    redis_server = LocalRedis(work / f"redis-{n}", persist=False)
    env = s3_settings_env(s3.endpoint) if s3 else {}
    settings = Settings.model_validate(
        {
            "redis_url": redis_server.url,
            "data_dir": work / f"data-{n}",
            "file_root": work,
            **{k.removeprefix("MMSEARCH_").lower(): v for k, v in env.items()},
        }
    )
    engine = EngineProcess(settings)  # the engine in a process of its own, as in standalone
    try:
        vectors = RemoteVectors(engine.start()).as_store()
        objects = ObjectStore(settings)
        started = time.perf_counter()
        if s3:
            uri, mtime, etag = bucket_source(aws_client(s3.endpoint), n), None, _etag()
        else:
            (uri, mtime), etag = folder_source(work, n), None
        made = time.perf_counter() - started
        schema = {SOURCE_ID_KEY: FieldType.KEYWORD, SYNC_FIELD: FieldType.KEYWORD}
        spec = CollectionSpec("library", DIM, "mmsearch-tiny/random", schema)
        vectors.create_collection(spec)
        source = Source(new_source_id(), "library", uri, created_at=time.time())
        started = time.perf_counter()
        hold(vectors, spec, source, n, mtime, etag)
        seeded = time.perf_counter() - started
        jobs = JobStore(redis.Redis.from_url(redis_server.url), max_errors=100, ttl_s=3600)
        celery = Celery("mmsearch", set_as_current=False, config_source=celery_config(settings))
        sender = TaskSender(celery, Outbox(jobs, ttl_s=3600))
        sources = SourceStore(jobs.redis)
        sources.add(source)
        syncs = Syncs(jobs, sources, sender, vectors)
        context = SyncContext(
            jobs, sender, vectors, objects, sources, args.page, 64, MetadataLimits(), 1 << 25
        )
        job_id = syncs.start(source, dry_run=True)
        with PeakRss() as rss:
            started = time.perf_counter()
            run_sync(context, job_id)
            took = time.perf_counter() - started
        state = jobs.get(job_id, errors_limit=0)
        tracemalloc.start()  # a second dry run, for the Python heap's peak alone
        run_sync(context, syncs.start(source, dry_run=True))
        heap = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(
            f"n={n:>7,}: made in {made:.1f} s, items seeded in {seeded:.1f} s; dry-run sync "
            f"{took:.2f} s = {n / took:,.0f} objects/s; peak RSS {rss.peak / 2**20:.1f} MiB "
            f"(+{(rss.peak - rss.start) / 2**20:.1f} over its start), Python heap peak "
            f"{heap:.2f} MiB; {state.status}, {state.sync}"
        )
        return took, rss.peak / 2**20, heap
    finally:
        engine.stop()
        redis_server.stop()


def _etag() -> str:
    import hashlib

    return hashlib.md5(BODY).hexdigest()  # noqa: S324 - S3's single-part ETag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000, help="objects compared per step")
    parser.add_argument("--s3", action="store_true", help="a bucket on SeaweedFS, not a folder")
    args = parser.parse_args()
    s3 = local_s3("seaweedfs") if args.s3 else None
    try:
        with tempfile.TemporaryDirectory(prefix="mmsearch-bench-sync-") as folder:
            small = run(args, args.n // 10, Path(folder), s3)
            large = run(args, args.n, Path(folder), s3)
    finally:
        if s3 is not None:
            s3.stop()
    print(
        f"{args.n:,} objects ÷ {args.n // 10:,}: time {large[0] / small[0]:.2f}×, peak RSS "
        f"{large[1]:.1f} ÷ {small[1]:.1f} MiB = {large[1] / small[1]:.2f}×, Python heap peak "
        f"{large[2]:.2f} ÷ {small[2]:.2f} MiB = {large[2] / small[2]:.2f}×"
    )


if __name__ == "__main__":
    main()
