"""Runtimes side by side on one machine, in one run: torch fp32 against ONNX Runtime and OpenVINO
at fp32 and int8, on the same weights.

    .venv/bin/python bench/runtimes.py --model ViT-B-32/random --n 200
    .venv/bin/python bench/runtimes.py --only torch/auto,openvino/int8 --no-e2e

Per runtime/precision:
- fidelity against torch on the same images and captions (Flickr8k when present): cosine of
  image and text vectors (min, mean) and the share of top-10 text→image and image→image results
  in common;
- images/s of the image tower's forward on preprocessed batches (`--batch`), and the text
  query encode p50 (one caption at a time, as a search does);
- end to end: images/s of an ingest through the API and worker (S3 over HTTP), and the peak RSS
  of the API process (it loads the text tower only) after some text searches.
int8 is calibrated on `--calibration` (default: the first Flickr8k photos not in the set).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import bench_parser, running_stack

from mmsearch.encoders import get_encoder
from mmsearch.encoders.evaluation import agreement
from mmsearch.encoders.runtimes import EncoderRuntime
from mmsearch.infra.testing.photos import Photo, decode, real_or_generated

CONFIGS = ["torch/auto", "onnx/fp32", "openvino/fp32", "onnx/int8", "openvino/int8"]


def forward_rate(encoder: Any, tensors: list[Any], batch: int) -> float:
    encoder.embed_preprocessed(tensors[:batch])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(tensors), batch):
        encoder.embed_preprocessed(tensors[start : start + batch])
    return len(tensors) / (time.perf_counter() - started)


def text_p50_ms(encoder: Any, captions: list[str]) -> float:
    encoder.embed_texts(captions[:1])
    times = []
    for caption in captions:
        started = time.perf_counter()
        encoder.embed_texts([caption])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(config: str, args: Any, photos: list[Photo], root: Path, calibration: Path | None):
    name, _, precision = config.partition("/")
    runtime = EncoderRuntime(name, precision, root, calibration)
    started = time.perf_counter()
    encoder = get_encoder(args.model, device=args.device, runtime=runtime)
    ready_s = time.perf_counter() - started
    images = [decode(p.data) for p in photos]
    tensors = [encoder.preprocess(image) for image in images]
    captions = [p.caption for p in photos]
    vectors = (encoder.embed_preprocessed(tensors), encoder.embed_texts(captions))
    return {
        "config": config,
        "ready_s": ready_s,
        "images_per_s": forward_rate(encoder, tensors, args.batch),
        "text_p50_ms": text_p50_ms(encoder, captions[: args.queries]),
        "vectors": vectors,
    }


def end_to_end(config: str, args: Any, photos: list[Photo], root: Path, calibration: Path | None):
    name, _, precision = config.partition("/")
    extra = {
        "runtime": name,
        "precision": precision,
        "export_dir": str(root),
        "device": args.device,
    }
    if calibration is not None:
        extra["calibration_dir"] = str(calibration)
    with running_stack(args.model, args.batch, photos, **extra) as stack:
        platform = stack.platform
        platform.create_collection("bench", args.model)
        warm = [{"uri": f"s3://bench/{p.name}", "id": f"warm-{p.name}"} for p in photos[:8]]
        platform.wait_job(platform.ingest("bench", {"items": warm}), timeout_s=1800)
        items = [{"uri": f"s3://bench/{p.name}", "id": p.name} for p in photos]
        started = time.perf_counter()
        job = platform.wait_job(platform.ingest("bench", {"items": items}), timeout_s=1800)
        rate = len(photos) / (time.perf_counter() - started)
        assert job["succeeded"] == len(photos), job
        for photo in photos[:20]:
            platform.search("bench", {"text": photo.caption, "limit": 10})
        peak = _peak_mib(platform.process.pid)
    return rate, peak


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def calibration_folder(args: Any, tmp: Path) -> Path | None:
    if args.calibration:
        return Path(args.calibration)
    photos, source = real_or_generated(args.n + 64)
    if "flickr" not in source.lower():
        return None  # generated images are calibrated on generated stand-ins
    folder = tmp / "calibration"
    folder.mkdir()
    for photo in photos[args.n :]:
        (folder / photo.name).write_bytes(photo.data)
    return folder


def main() -> None:
    parser = bench_parser(__doc__, model="ViT-B-32/random")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU rows")
    parser.add_argument("--only", default=",".join(CONFIGS))
    parser.add_argument("--calibration", default=None, help="folder of calibration images")
    parser.add_argument("--no-e2e", action="store_true", help="skip the ingests through the API")
    args = parser.parse_args()
    photos, source = real_or_generated(args.n)
    configs = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="mmsearch-runtimes-") as tmp:
        root, calibration = Path(tmp) / "exports", calibration_folder(args, Path(tmp))
        rows = [measure(config, args, photos, root, calibration) for config in configs]
        if not args.no_e2e:
            for row in rows:
                row["e2e"], row["api_peak_mib"] = end_to_end(
                    row["config"], args, photos, root, calibration
                )
    print(f"model={args.model} images={len(photos)} ({source}) batch={args.batch}")
    print(f"int8 calibration: {calibration or 'generated images'}")
    base = rows[0]
    head = "config          ready s  images/s  ×first  text p50 ms  ×first"
    print(head + ("   e2e img/s  ×first  API peak MiB" if not args.no_e2e else ""))
    for row in rows:
        line = (
            f"{row['config']:<15} {row['ready_s']:7.1f} {row['images_per_s']:9.1f} "
            f"{row['images_per_s'] / base['images_per_s']:7.2f} {row['text_p50_ms']:12.2f} "
            f"{row['text_p50_ms'] / base['text_p50_ms']:7.2f}"
        )
        if "e2e" in row:
            line += (
                f" {row['e2e']:11.1f} {row['e2e'] / base['e2e']:7.2f} {row['api_peak_mib']:13.0f}"
            )
        print(line)
    print(f"\nfidelity against {base['config']} (cosine min/mean; top-10 in common)")
    for row in rows[1:]:
        a = agreement(base["vectors"], row["vectors"])
        print(
            f"{row['config']:<15} images {a['image_cosine_min']:.5f}/{a['image_cosine_mean']:.5f}"
            f"  texts {a['text_cosine_min']:.5f}/{a['text_cosine_mean']:.5f}"
            f"  text→image {a['text_to_image_top_overlap']:.3f}"
            f"  image→image {a['image_to_image_top_overlap']:.3f}"
        )
    assert np.isfinite([r["images_per_s"] for r in rows]).all()


if __name__ == "__main__":
    main()
