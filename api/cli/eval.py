"""`mmsearch eval`: Recall@1/5/10 of a model on a captioned image set, text→image and image→text.

It loads the model in this process and decodes images exactly as ingest does, so the figures are
those of the vectors the platform would store and query.
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
from mmsearch.encoders.evaluation import KS, load_caption_set, recall_at_k
from mmsearch.infra.settings import get_settings


def embed_set(model: str, images: list[Path], captions: list[str], batch: int) -> Any:
    """Unit image and caption vectors, saying what it does and with progress bars."""
    started = time.monotonic()
    say(f"loading model {model} (the first time, torch and the weights take a while)")
    from mmsearch.encoders import get_encoder  # torch: only for this command
    from mmsearch.infra.media.images import decode_image

    s = get_settings()
    encoder = get_encoder(model, device=s.device, cache_dir=s.model_cache_dir, log_failure=False)
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
    say(f"{len(data.images)} images, {len(data.captions)} captions listed")
    try:
        name, image_vectors, text_vectors = embed_set(model, data.images, data.captions, args.batch)
    except (ModelUnavailable, UnknownModel) as exc:
        return refuse_model("eval", model, exc, "--model ")
    except OSError as exc:  # an image listed in the captions that cannot be read
        return refuse(f"{exc.filename}: {exc.strerror or exc}")
    say("scoring")
    recall = recall_at_k(text_vectors @ image_vectors.T, data.image_of)
    report = {
        "model": name,
        "images": len(data.images),
        "captions": len(data.captions),
        "recall": {way: {f"R@{k}": round(v, 4) for k, v in r.items()} for way, r in recall.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"model {name}: {len(data.images)} images, {len(data.captions)} captions")
    print(f"{'':14}" + "".join(f"{'R@' + str(k):>8}" for k in KS))
    for way, label in (("text_to_image", "text→image"), ("image_to_text", "image→text")):
        print(f"{label:<14}" + "".join(f"{100 * recall[way][k]:>8.1f}" for k in KS))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("eval", help="Recall@K of a model on a captioned image set")
    parser.add_argument("--captions", required=True, help="CSV with header image,caption")
    parser.add_argument("--images", required=True, help="folder holding the CSV's images")
    parser.add_argument("--model", default=None, help="model name (MMSEARCH_DEFAULT_MODEL)")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_eval)
