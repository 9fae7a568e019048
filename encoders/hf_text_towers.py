"""open_clip models whose text tower is a Hugging Face model (the multilingual
`xlm-roberta-base-ViT-B-32` and `xlm-roberta-large-ViT-H-14` families, and the like).

open_clip builds such a tower from the transformers config of `hf_model_name` and tokenizes with
`hf_tokenizer_name`, each fetched from the hub on its own, outside the model cache. Here both
are resolved to a local folder first: a folder shipped in this package (the `tiny-xlm-roberta`
test tower), else the repository's config and tokenizer files (no weights: the checkpoint holds
the tower's) fetched once into the model cache, so a cached model loads offline. The towers are
not causal (XLM-RoBERTa pools the mean of every token), so queries run on them in full.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import open_clip
from huggingface_hub import snapshot_download
from open_clip.tokenizer import HFTokenizer

from mmsearch.encoders.base import ModelUnavailable, root_cause
from mmsearch.encoders.hub import hub_endpoint, require_reachable

PACKAGED = Path(__file__).parent / "model_configs"
_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
_FILES += ["sentencepiece.bpe.model", "spiece.model", "vocab.txt", "vocab.json", "merges.txt"]


def hf_text_cfg(arch: str, cache_dir: Path | None) -> dict[str, Any] | None:
    """The arch's `text_cfg` with its HF model and tokenizer as local folders; None for an arch
    whose text tower is open_clip's own."""
    config = open_clip.get_model_config(arch) or {}
    text = dict(config.get("text_cfg") or {})
    if not text.get("hf_model_name"):
        return None
    text["hf_model_name"] = local_folder(text["hf_model_name"], cache_dir)
    tokenizer = text.get("hf_tokenizer_name") or text["hf_model_name"]
    text["hf_tokenizer_name"] = local_folder(tokenizer, cache_dir)
    text["hf_model_pretrained"] = False  # the tower's weights come with the model's, or none
    return text


def hf_tokenizer(text_cfg: dict[str, Any]) -> HFTokenizer:
    """open_clip's tokenizer for an HF text tower, from its local folder."""
    return HFTokenizer(
        text_cfg["hf_tokenizer_name"],
        context_length=int(text_cfg.get("context_length", 77)),
        **(text_cfg.get("tokenizer_kwargs") or {}),
    )


def local_folder(name: str, cache_dir: Path | None) -> str:
    """A packaged tower's folder, a local path as given, or the hub repository's config and
    tokenizer files in the cache (fetched the first time); ModelUnavailable if they cannot be."""
    packaged = PACKAGED / name
    if (packaged / "config.json").is_file():
        return str(packaged)
    if Path(name).is_dir():
        return name
    cache = str(cache_dir) if cache_dir else None
    try:
        return str(
            snapshot_download(name, cache_dir=cache, allow_patterns=_FILES, local_files_only=True)
        )
    except Exception:  # not cached yet (or only partly): fetch it
        require_reachable(hub_endpoint())
    try:
        return str(snapshot_download(name, cache_dir=cache, allow_patterns=_FILES))
    except Exception as exc:  # the hub's, requests' and httpx's errors alike
        raise ModelUnavailable(
            f"could not download the text tower's config and tokenizer ({name}): {root_cause(exc)}"
        ) from exc
