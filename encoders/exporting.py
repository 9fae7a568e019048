"""Exporting an open_clip model's towers to ONNX, in the layout mmsearch.encoders.exported reads.

The text tower is exported with the trimmed forward the torch path runs (a dynamic token axis:
a query runs on its tokens up to the last end-of-text) where the tower allows it; the image
tower with a dynamic batch axis. Each tower is checked against torch right after export on a
probe batch, so a graph the exporter got wrong never reaches a collection.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from open_clip.tokenizer import HFTokenizer, SimpleTokenizer, get_clean_fn
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from mmsearch.encoders.base import ExportProblem
from mmsearch.encoders.exported import pooled_length, row_cosines
from mmsearch.encoders.image_prep import ImagePrep
from mmsearch.encoders.open_clip_backend import OpenClipEncoder
from mmsearch.encoders.text_trim import forward_tokens

log = logging.getLogger(__name__)
for _chatty in ("onnx_ir", "onnxscript", "torch.onnx", "torch.export"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)  # a line per graph pass otherwise
# Notes on folds it skips (a graph as good, a little larger): a warning per attention layer.
logging.getLogger("onnxscript.optimizer").setLevel(logging.ERROR)

OPSET = 18
FIDELITY_FLOOR = 0.9999  # cosine of export vs torch on the probe batch
# open_clip's pattern (it matches case-insensitively; the letter classes cover both cases).
_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
PROBE_TEXTS = [
    "a photo of a dog running on a beach",
    "Two CATS, it's 12:30 &amp; they're OK'd!!",
    "caf\u00c3\u00a9 \u72ac\u304c\u8d70\u3063\u3066\u3044\u308b \U0001f415  whitespace\t runs",
    "<end_of_text> <|endoftext|> words " + "long " * 100,
    "",
]
_CLEAN_NAMES = ("lower", "whitespace", "canonicalize")


class ExportFailed(ExportProblem):
    """A tower could not be exported, or its export does not match torch."""


def model_config(encoder: OpenClipEncoder) -> dict[str, Any]:
    """config.json of an export: open_clip's model config, the tokenizer's settings, and how
    mmsearch runs the text tower."""
    config: dict[str, Any] = json.loads(json.dumps(open_clip.get_model_config(encoder.arch) or {}))
    config["embed_dim"] = encoder.dim
    text_cfg = config.setdefault("text_cfg", {})
    tokenizer = encoder.tokenizer
    text_cfg["context_length"] = int(tokenizer.context_length)
    text_cfg["tokenizer_kwargs"] = {
        "clean": _clean_name(tokenizer),
        "strip_sep_token": bool(getattr(tokenizer, "strip_sep_token", False)),
    }
    ours: dict[str, Any] = {"model": encoder.name, "logit_scale": encoder.logit_scale}
    pool = encoder.text_pooling()
    if pool is not None:
        ours["text_pool"], ours["eos_id"] = pool
    config["mmsearch"] = ours
    return config


class _TextGraph(torch.nn.Module):
    def __init__(self, model: Any, mode: str | None) -> None:
        super().__init__()
        self.model, self.mode = model, mode

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.mode is None:
            return self.model.encode_text(tokens)
        return forward_tokens(self.model, self.mode, tokens)


class _ImageGraph(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)


def export_text(encoder: OpenClipEncoder, folder: Path) -> None:
    """Write the text tower of a loaded model into `folder` (made) and check it."""
    _write_tokenizer(encoder.tokenizer, folder)
    _check_tokenizer(encoder, folder)
    mode = encoder.trim
    graph = _TextGraph(encoder.model, mode)
    probes = [_text_probe(encoder, PROBE_TEXTS[:3]), _text_probe(encoder, PROBE_TEXTS[3:4])]
    axes = {0: "batch", 1: "tokens"} if mode is not None else {0: "batch"}
    to_onnx(graph, probes[0], folder / "model.onnx", "text", axes)
    for tokens in probes:  # two batch sizes and token lengths: the axes really are dynamic
        with torch.inference_mode():
            expected = graph(tokens)
        check_onnx(folder / "model.onnx", tokens.numpy(), expected.numpy(), "text")


def _text_probe(encoder: OpenClipEncoder, texts: list[str]) -> torch.Tensor:
    tokens: torch.Tensor = encoder.tokenizer(texts)
    pool = encoder.text_pooling()
    if pool is not None:
        tokens = tokens[:, : pooled_length(tokens.numpy(), *pool)]
    return tokens


def _check_tokenizer(encoder: OpenClipEncoder, folder: Path) -> None:
    """The written tokenizer files must give open_clip's ids on the probe texts."""
    from mmsearch.encoders.tokenize import TextTokenizer

    tokenizer = encoder.tokenizer
    ours = TextTokenizer(
        folder,
        context_length=int(tokenizer.context_length),
        clean=_clean_name(tokenizer),
        strip_sep=bool(getattr(tokenizer, "strip_sep_token", False)),
    )(PROBE_TEXTS)
    if not np.array_equal(ours, tokenizer(PROBE_TEXTS).numpy()):
        raise ExportFailed("the exported tokenizer does not give open_clip's token ids")


def export_visual(encoder: OpenClipEncoder, folder: Path) -> None:
    """Write the image tower of a loaded model into `folder` (made) and check it."""
    prep = ImagePrep.from_config(encoder.model.visual.preprocess_cfg)
    graph = _ImageGraph(encoder.model)

    def expected(pixels: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(graph(pixels).numpy())

    export_image_graph(graph, prep, folder, expected)


def export_image_graph(
    graph: torch.nn.Module,
    prep: ImagePrep,
    folder: Path,
    expected: Callable[[torch.Tensor], np.ndarray],
) -> None:
    """Write an image tower's graph and its preprocessing into `folder`, and check the graph
    against `expected` (the model's features for a pixel batch) on two probe batches."""
    (folder / "preprocess_cfg.json").write_text(json.dumps(prep.to_config(), indent=2))
    generator = torch.Generator().manual_seed(0)
    probes = [torch.randn((n, 3, *prep.size), generator=generator) for n in (3, 1)]
    to_onnx(graph, probes[0], folder / "model.onnx", "image", {0: "batch"})
    for pixels in probes:
        check_onnx(folder / "model.onnx", pixels.numpy(), expected(pixels), "image")


def to_onnx(
    graph: torch.nn.Module, example: torch.Tensor, path: Path, name: str, axes: dict[int, str]
) -> None:
    graph.eval()
    big = sum(p.numel() * p.element_size() for p in graph.parameters()) > 1_800_000_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on graph internals
        try:
            program = torch.onnx.export(
                graph,
                (example,),
                dynamo=True,
                input_names=[name],
                output_names=["features"],
                dynamic_axes={name: axes},
                opset_version=OPSET,
                external_data=big,
                verbose=False,
            )
            assert program is not None
            program.save(str(path), external_data=big)
        except Exception as exc:  # the exporter raises many kinds
            raise ExportFailed(f"could not export the {name} tower to ONNX: {exc}") from exc


def check_onnx(path: Path, inputs: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Run the export on the probe batch with ONNX Runtime and compare with torch."""
    from mmsearch.encoders.sessions import OrtSession

    got = OrtSession(path, "cpu").run(inputs)
    cosine = row_cosines(got, expected)
    if not float(cosine.min()) >= FIDELITY_FLOOR:
        raise ExportFailed(
            f"the exported {what} tower disagrees with torch (cosine {cosine.min():.6f})"
        )


def _clean_name(tokenizer: Any) -> str:
    clean_fn = getattr(tokenizer, "clean_fn", None)
    for name in _CLEAN_NAMES:
        if clean_fn is get_clean_fn(name):
            return name
    raise ExportFailed(f"cannot export the text cleaning of {type(tokenizer).__name__}")


def _write_tokenizer(tokenizer: Any, folder: Path) -> None:
    """tokenizer.json and tokenizer_config.json giving the same ids as `tokenizer`."""
    if getattr(tokenizer, "reduction_fn", None) is not None:
        raise ExportFailed("tokenizers with a reduction mask cannot be exported")
    if isinstance(tokenizer, HFTokenizer):
        if getattr(tokenizer, "tokenizer_mode", None) == "clips":
            raise ExportFailed("tokenizers in 'clips' mode cannot be exported")
        if not getattr(tokenizer.tokenizer, "is_fast", False):
            raise ExportFailed("only fast Hugging Face tokenizers can be exported")
        tokenizer.tokenizer.save_pretrained(str(folder))
        return
    if not isinstance(tokenizer, SimpleTokenizer):
        raise ExportFailed(f"cannot export a {type(tokenizer).__name__}")
    _simple_tokenizer(tokenizer, _clean_name(tokenizer)).save(str(folder / "tokenizer.json"))
    pad = tokenizer.decoder[0]  # open_clip pads with id 0
    config = {"pad_token": pad, "model_max_length": tokenizer.context_length}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def _simple_tokenizer(tokenizer: SimpleTokenizer, clean: str) -> Tokenizer:
    """open_clip's BPE tokenizer as a Hugging Face `tokenizers` one."""
    merges = sorted(tokenizer.bpe_ranks, key=tokenizer.bpe_ranks.__getitem__)
    vocab = dict(tokenizer.encoder)
    special = [tokenizer.decoder[i] for i in tokenizer.all_special_ids]
    bpe = models.BPE(vocab=vocab, merges=merges, end_of_word_suffix="</w>", fuse_unk=False)
    result = Tokenizer(bpe)
    lower = [normalizers.Lowercase()] if clean != "whitespace" else []
    result.normalizer = normalizers.Sequence([normalizers.NFC(), *lower])
    result.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    result.decoder = decoders.ByteLevel()
    result.add_special_tokens(special)
    sot, eot = special[0], special[1]
    result.post_processor = processors.TemplateProcessing(
        single=f"{sot} $A {eot}",
        special_tokens=[(sot, tokenizer.sot_token_id), (eot, tokenizer.eot_token_id)],
    )
    return result
