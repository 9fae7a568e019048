"""Exporting a Hugging Face CLIP or SigLIP model's towers to ONNX, in the layout
mmsearch.encoders.exported reads.

- The text tower takes token ids alone. A CLIP tower is causal and pools at the end-of-text
  token, so its export has a dynamic token axis and queries run on their tokens up to the last
  end-of-text, as open_clip's do. A SigLIP tower (no causal mask, pools the last position)
  runs on the full context, with no attention mask, as it was trained and as the torch path
  runs it.
- The tokenizer is the model's own `tokenizers` one, saved as it is (its normaliser included),
  and checked to give the model's token ids on the probe texts.
- The image tower takes normalised pixels; `preprocess_cfg.json` holds the image processor's
  steps as an ImagePrep (mmsearch.encoders.hf_prep), the steps the torch path runs too.

Each tower is checked right after export against the torch model's own vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmsearch.encoders.exported import pooled_length
from mmsearch.encoders.exporting import (
    PROBE_TEXTS,
    ExportFailed,
    check_onnx,
    export_image_graph,
    to_onnx,
)
from mmsearch.encoders.hf_backend import HFEncoder, features
from mmsearch.encoders.tokenize import TextTokenizer


def model_config(encoder: HFEncoder) -> dict[str, Any]:
    """config.json of an export: the sizes, the tokenizer's settings, and how mmsearch runs
    the text tower."""
    ours: dict[str, Any] = {
        "model": encoder.name,
        "backend": "hf",
        "model_type": encoder.model_type,
        "logit_scale": encoder.logit_scale,
        "logit_bias": encoder.logit_bias,
    }
    pool = encoder.text_pooling()
    if pool is not None:
        ours["text_pool"], ours["eos_id"] = pool
    return {
        "embed_dim": encoder.dim,
        "text_cfg": {
            "context_length": encoder.context_length,
            "tokenizer_kwargs": {"clean": "none"},
        },
        "mmsearch": ours,
    }


class _TextGraph(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return features(self.model.get_text_features(input_ids=tokens))


class _ImageGraph(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return features(self.model.get_image_features(pixel_values=pixels))


def export_text(encoder: HFEncoder, folder: Path) -> None:
    """Write the text tower of a loaded model into `folder` (made) and check it."""
    tokenizer = encoder.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ExportFailed(
            f"{encoder.name}: its {type(tokenizer).__name__} is not a Hugging Face `tokenizers` "
            "one, which is what an export runs; run the model with MMSEARCH_RUNTIME=torch"
        )
    tokenizer.save_pretrained(str(folder))
    ids = _check_tokenizer(encoder, folder)
    pool = encoder.text_pooling()
    batches = [slice(0, 3), slice(3, 4)]  # two batch sizes and token lengths
    probes = [ids[batch] for batch in batches]
    if pool is not None:
        probes = [probe[:, : pooled_length(probe, *pool)] for probe in probes]
    axes = {0: "batch", 1: "tokens"} if pool is not None else {0: "batch"}
    to_onnx(
        _TextGraph(encoder.model), torch.from_numpy(probes[0]), folder / "model.onnx", "text", axes
    )
    for batch, tokens in zip(batches, probes, strict=True):
        expected = encoder.embed_texts(PROBE_TEXTS[batch])
        check_onnx(folder / "model.onnx", tokens, expected, "text")


def _check_tokenizer(encoder: HFEncoder, folder: Path) -> np.ndarray:
    """The saved tokenizer's ids for the probe texts, which must be the model's own."""
    context = encoder.context_length
    ours = TextTokenizer(folder, context_length=context, clean="none")(PROBE_TEXTS)
    theirs = encoder.tokenizer(
        PROBE_TEXTS, padding="max_length", truncation=True, max_length=context
    )["input_ids"]
    if not np.array_equal(ours, np.asarray(theirs, dtype=np.int64)):
        raise ExportFailed(f"{encoder.name}: the exported tokenizer does not give its token ids")
    return ours


def export_visual(encoder: HFEncoder, folder: Path) -> None:
    """Write the image tower of a loaded model into `folder` (made) and check it."""
    prep = encoder.image_prep
    if prep is None:
        raise ExportFailed(
            f"{encoder.name}: its image processor's steps cannot be run without torch "
            f"({encoder.image_prep_problem}); run the model with MMSEARCH_RUNTIME=torch"
        )
    export_image_graph(
        _ImageGraph(encoder.model),
        prep,
        folder,
        lambda pixels: encoder.embed_preprocessed(list(pixels)),
    )
