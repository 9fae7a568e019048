"""Shared bench setup: real Redis, S3 over HTTP (SeaweedFS) and a standalone platform process."""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mmsearch.infra.testing.photos import Photo  # noqa: E402
from mmsearch.infra.testing.platform import Platform, platform_with_redis  # noqa: E402
from mmsearch.infra.testing.s3 import aws_client, local_s3, upload_photos  # noqa: E402

BUCKET = "bench"


@dataclass
class Stack:
    platform: Platform
    s3: Any
    bucket: str


def bench_parser(doc: str | None, model: str = "mmsearch-tiny/random") -> argparse.ArgumentParser:
    """An argument parser described by the script's first docstring line, with --model."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--model", default=model)
    return parser


@contextmanager
def running_stack(
    model: str, batch_size: int, photos: list[Photo], **extra: str
) -> Iterator[Stack]:
    """Start Redis, S3 (SeaweedFS; MMSEARCH_TEST_S3=moto for moto's) and `mmsearch standalone`
    (`extra`: more MMSEARCH_* settings); upload the photos to one bucket."""
    s3 = local_s3()
    try:
        client = aws_client(s3.endpoint)
        upload_photos(client, BUCKET, photos)
        settings = {"batch_size": str(batch_size), "log_level": "WARNING", **extra}
        with (
            tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp,
            platform_with_redis(Path(tmp), s3.endpoint, model, **settings) as platform,
        ):
            yield Stack(platform, client, BUCKET)
    finally:
        s3.stop()


@dataclass
class Searches:
    """Search latencies (ms) with the time each finished, and errors, from all clients."""

    done: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: list[dict[str, float]] = field(default_factory=list)  # server phases, as `done`
    lock: threading.Lock = field(default_factory=threading.Lock)

    def between(self, start: float, end: float) -> list[float]:
        with self.lock:
            return [ms for at, ms in self.done if start <= at < end]


def search_client(
    base: str,
    collection: str,
    captions: list[str],
    k: int,
    stop: threading.Event,
    out: Searches,
) -> None:
    """Search `collection` by text without pause until `stop`, each query distinct (no client
    hits the query cache); latencies and errors go to `out`."""
    session, i = requests.Session(), k
    url = f"{base}/v1/collections/{collection}/search"
    while not stop.is_set():
        body = {"text": f"{captions[i % len(captions)]} #{i}", "limit": 10}
        t0 = time.perf_counter()
        try:
            response = session.post(url, json=body, timeout=60)
            if response.status_code != 200:
                out.errors.append(f"{response.status_code} {response.text[:100]}")
            phases = server_phases(response.headers.get("Server-Timing", ""))
        except requests.RequestException as exc:
            out.errors.append(type(exc).__name__)
            phases = {}
        with out.lock:
            out.done.append((time.perf_counter(), (time.perf_counter() - t0) * 1000))
            out.phases.append(phases)
        i += 1024


def server_phases(header: str) -> dict[str, float]:
    """`encode;dur=23.10, search;dur=0.21` as {"encode": 23.1, "search": 0.21} (ms)."""
    phases = {}
    for part in header.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name and duration:
            phases[name] = float(duration)
    return phases


def slowest_phases(out: Searches, share: float = 0.01) -> str:
    """Where the slowest `share` of requests spent their time: the client's latency against
    the server's phases (mean ms), which tells queueing from model from engine time."""
    with out.lock:
        pairs = sorted(zip(out.done, out.phases, strict=True), key=lambda pair: -pair[0][1])
    slow = pairs[: max(1, int(len(pairs) * share))]
    if not pairs:
        return "no searches"
    names = sorted({name for _, phases in slow for name in phases})
    means = {n: sum(p.get(n, 0.0) for _, p in slow) / len(slow) for n in names}
    client = sum(done[1] for done, _ in slow) / len(slow)
    parts = ", ".join(f"{n} {ms:.1f}" for n, ms in means.items())
    return f"slowest {len(slow)}: client {client:.1f} ms; server {parts}"


def rss_mib(pid: int) -> float:
    """The resident memory of a process and its descendants (the platform's worker), in MiB
    (Linux)."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += rss_mib(int(child))
            except FileNotFoundError:  # gone meanwhile
                pass
    return total
