"""Ingest throughput: the whole pipeline (S3 → decode → embed → upsert → job counters, through the
real API and worker) against the bare encoder on the same images, model and batch size.

    .venv/bin/python bench/ingest.py --model mmsearch-tiny/random --n 300
    .venv/bin/python bench/ingest.py --model ViT-B-32/random --n 200
"""

from __future__ import annotations

import logging
import time

from common import bench_parser, running_stack
from PIL import Image

from mmsearch.encoders import get_encoder
from mmsearch.infra.testing.photos import decode, real_or_generated

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def raw_encoder_rates(model: str, images: list[Image.Image], batch_size: int) -> dict[str, float]:
    """Images/s of the bare encoder on already-decoded images, one warm-up batch first:
    `forward` on tensors preprocessed beforehand (the model alone: the limit), and
    `preprocess+forward` done one after the other in one thread."""
    encoder = get_encoder(model)
    encoder.embed_images(images[:batch_size])
    tensors = [encoder.preprocess(image) for image in images]
    started = time.perf_counter()
    for start in range(0, len(images), batch_size):
        encoder.embed_preprocessed(tensors[start : start + batch_size])
    forward = len(images) / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, len(images), batch_size):
        encoder.embed_images(images[start : start + batch_size])
    serial = len(images) / (time.perf_counter() - started)
    return {"forward": forward, "preprocess+forward": serial}


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--feed-processes", default=None, help="MMSEARCH_FEED_PROCESSES (default: one per core)"
    )
    args = parser.parse_args()

    photos, source = real_or_generated(args.n)
    images = [decode(p.data) for p in photos]
    raw = raw_encoder_rates(args.model, images, args.batch)

    extra = {} if args.feed_processes is None else {"feed_processes": args.feed_processes}
    with running_stack(args.model, args.batch, photos, **extra) as stack:
        platform = stack.platform
        platform.create_collection("bench", args.model)
        warm = [{"uri": f"s3://bench/{p.name}", "id": f"warm-{p.name}"} for p in photos[:8]]
        platform.wait_job(platform.ingest("bench", {"items": warm}))  # model load, first batch
        items = [{"uri": f"s3://bench/{p.name}", "id": p.name} for p in photos]
        started = time.perf_counter()
        job = platform.wait_job(platform.ingest("bench", {"items": items}))
        elapsed = time.perf_counter() - started
    assert job["succeeded"] == len(photos), job
    pipeline = len(photos) / elapsed
    feed = args.feed_processes or "one per core"
    print(f"model={args.model} batch={args.batch} images={len(photos)} ({source}) feed={feed}")
    forward, serial = raw["forward"], raw["preprocess+forward"]
    print(f"raw encoder      : {forward:8.1f} images/s (forward alone, on preprocessed tensors)")
    print(f"raw encoder      : {serial:8.1f} images/s (preprocess + forward in one thread)")
    print(f"pipeline (e2e)   : {pipeline:8.1f} images/s (POST → job succeeded, S3 over HTTP)")
    print(f"ratio e2e / raw forward            : {pipeline / forward:8.3f}")
    print(f"ratio e2e / raw preprocess+forward : {pipeline / serial:8.3f}")


if __name__ == "__main__":
    main()
