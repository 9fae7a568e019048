"""Text-tower forward over the full context against the trimmed forward the encoders run.

.venv/bin/python bench/text_encode.py [--model ViT-B-32/random] [--seconds 4]

Dataset captions (Flickr8k when present) at batch 1, 4 and 16: texts/s both ways, their ratio,
and the largest difference between the two vectors (the trimmed forward must give the same ones).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from mmsearch.encoders import get_encoder
from mmsearch.encoders.torch_util import to_unit_numpy
from mmsearch.infra.testing.photos import real_or_generated


def texts_per_s(embed: Any, texts: list[str], batch: int, seconds: float) -> float:
    embed(texts[:batch])
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        start = done % (len(texts) - batch)
        embed(texts[start : start + batch])
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32/random")
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each measure")
    args = parser.parse_args()
    photos, source = real_or_generated(200)
    texts = [p.caption for p in photos]
    encoder: Any = get_encoder(args.model, text_only=True)
    tokenizer, model = encoder._tokenizer, encoder._model

    @torch.inference_mode()
    def full(batch: list[str]) -> np.ndarray:
        return to_unit_numpy(model.encode_text(tokenizer(batch)))

    tokens = [int((tokenizer([t])[0] != 0).sum()) for t in texts]
    print(f"model={args.model} captions={source} tokens p50 {np.median(tokens):.0f}")
    gap = np.abs(encoder.embed_texts(texts[:64]) - full(texts[:64])).max()
    print(f"max |trimmed - full| over 64 captions: {gap:.2e}")
    for batch in (1, 4, 16):
        trimmed = texts_per_s(encoder.embed_texts, texts, batch, args.seconds)
        whole = texts_per_s(full, texts, batch, args.seconds)
        print(
            f"batch {batch:2d}: trimmed {trimmed:7.1f} texts/s  full context {whole:7.1f} texts/s  "
            f"ratio {trimmed / whole:.2f}  (trimmed ms/batch {batch / trimmed * 1000:.1f})"
        )


if __name__ == "__main__":
    main()
