"""`mmsearch eval`: Recall@1/5/10 of a model on a captioned image set, text→image and image→text.

It loads the model in this process and decodes images exactly as ingest does, so the figures are
those of the vectors the platform would store and query. `--runtime torch,onnx,openvino/int8`
runs the same weights under each runtime in turn and sets them side by side: Recall@K, and how
far each runtime's vectors and rankings are from the first one's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmsearch.api.cli.progress import progress_bar
from mmsearch.api.cli.startup import refuse_model
from mmsearch.encoders import ModelUnavailable, UnknownModel
from mmsearch.encoders.evaluation import KS, agreement, load_caption_set, recall_at_k
from mmsearch.encoders.runtimes import EncoderRuntime
from mmsearch.infra.settings import get_settings


def parse_runtimes(value: str | None) -> list[EncoderRuntime]:
    """`RUNTIME[/PRECISION],...` → runtimes (the settings' one when not given); ValueError."""
    s = get_settings()
    if not value:
        return [s.encoder_runtime]
    runtimes = []
    for part in value.split(","):
        name, _, precision = part.strip().partition("/")
        runtimes.append(EncoderRuntime(name, precision or "auto", s.export_dir, s.calibration_dir))
    return runtimes


def embed_set(
    model: str, images: list[Path], captions: list[str], batch: int, runtime: EncoderRuntime
) -> Any:
    """Unit image and caption vectors, saying what it does and with progress bars."""
    started = time.monotonic()
    say(f"loading model {model} with {runtime.label} (the first time takes a while)")
    from mmsearch.encoders import get_encoder
    from mmsearch.infra.media.images import decode_image

    s = get_settings()
    encoder = get_encoder(
        model, device=s.device, cache_dir=s.model_cache_dir, log_failure=False, runtime=runtime
    )
    image_rows, text_rows = [], []
    say(f"model loaded in {time.monotonic() - started:.1f} s")
    with progress_bar(total=len(images), unit="img", desc="decoding and encoding images") as bar:
        for start in range(0, len(images), batch):
            chunk = []
            for path in images[start : start + batch]:
                chunk.append(
                    decode_image(
                        path.read_bytes(), max_pixels=s.max_image_pixels, min_side=s.decode_min_side
                    )
                )
                bar.set_postfix(decoded=start + len(chunk))  # moves while a batch is decoded
            image_rows.append(encoder.embed_images(chunk))
            bar.update(len(chunk))
    with progress_bar(total=len(captions), unit="text", desc="encoding captions") as bar:
        for start in range(0, len(captions), batch):
            text_rows.append(encoder.embed_texts(captions[start : start + batch]))
            bar.update(len(text_rows[-1]))
    return encoder.name, np.concatenate(image_rows), np.concatenate(text_rows)


def say(message: str) -> None:
    """A phase of the run, on stderr (stdout holds the report)."""
    print(f"mmsearch eval: {message}", file=sys.stderr, flush=True)


def refuse(message: str) -> int:
    """A set that cannot be read, in one line; exit 2."""
    say(message)
    return 2


def cmd_eval(args: argparse.Namespace) -> int:
    captions, images = Path(args.captions), Path(args.images)
    if not captions.is_file():
        return refuse(f"--captions {captions}: no such file")
    if not images.is_dir():
        return refuse(f"--images {images}: no such folder")
    try:
        data = load_caption_set(captions, images, args.limit)
    except OSError as exc:  # there but unreadable
        return refuse(f"--captions {captions}: {exc.strerror or exc}")
    except ValueError as exc:
        return refuse(str(exc))
    model = args.model or get_settings().default_model
    try:
        runtimes = parse_runtimes(args.runtime)
    except ValueError as exc:
        return refuse(f"--runtime: {exc}")
    say(f"{len(data.images)} images, {len(data.captions)} captions listed")
    rows: list[dict[str, Any]] = []
    vectors: list[tuple[np.ndarray, np.ndarray]] = []
    for runtime in runtimes:
        try:
            name, images, texts = embed_set(model, data.images, data.captions, args.batch, runtime)
        except (ModelUnavailable, UnknownModel) as exc:
            return refuse_model("eval", model, exc, "--model ")
        except OSError as exc:  # an image listed in the captions that cannot be read
            return refuse(f"{exc.filename}: {exc.strerror or exc}")
        say("scoring")
        recall = recall_at_k(texts @ images.T, data.image_of)
        row: dict[str, Any] = {
            "runtime": runtime.label,
            "recall": {w: {f"R@{k}": round(v, 4) for k, v in r.items()} for w, r in recall.items()},
        }
        if vectors:
            row["agreement"] = {
                key: round(value, 5)
                for key, value in agreement(vectors[0], (images, texts)).items()
            }
        rows.append(row)
        vectors.append((images, texts))
    report = {"model": name, "images": len(data.images), "captions": len(data.captions), **rows[0]}
    if len(rows) > 1:
        report["runtimes"] = rows
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_report(report, rows)
    return 0


def print_report(report: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    print(f"model {report['model']}: {report['images']} images, {report['captions']} captions")
    ways = (("text_to_image", "text→image"), ("image_to_text", "image→text"))
    print(f"{'':28}" + "".join(f"{'R@' + str(k):>8}" for k in KS))
    for row in rows:
        for way, name in ways:
            recall = row["recall"][way]
            print(
                f"{row['runtime'] + ' ' + name:<28}"
                + "".join(f"{100 * recall[f'R@{k}']:>8.1f}" for k in KS)
            )
    for row in rows[1:]:
        a = row["agreement"]
        print(
            f"{row['runtime']} vs {rows[0]['runtime']}: cosine images min "
            f"{a['image_cosine_min']:.4f} mean {a['image_cosine_mean']:.4f}, texts min "
            f"{a['text_cosine_min']:.4f} mean "
            f"{a['text_cosine_mean']:.4f}; top-10 shared text→image "
            f"{100 * a['text_to_image_top_overlap']:.1f}%, image→image "
            f"{100 * a['image_to_image_top_overlap']:.1f}%"
        )


def register(sub: Any) -> None:
    parser = sub.add_parser("eval", help="Recall@K of a model on a captioned image set")
    parser.add_argument("--captions", required=True, help="CSV with header image,caption")
    parser.add_argument("--images", required=True, help="folder holding the CSV's images")
    parser.add_argument("--model", default=None, help="model name (MMSEARCH_DEFAULT_MODEL)")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--runtime",
        default=None,
        help="RUNTIME[/PRECISION] list to compare, e.g. torch,onnx,openvino/int8 (default: "
        "MMSEARCH_RUNTIME/MMSEARCH_PRECISION)",
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_eval)
