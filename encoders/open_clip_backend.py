"""open_clip models behind the Encoder protocol."""

from __future__ import annotations

import gc
import logging
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import open_clip
import torch
from open_clip.factory import convert_to_custom_text_state_dict, resize_text_pos_embed
from open_clip.pretrained import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from PIL import Image
from safetensors import SafetensorError, safe_open

from mmsearch.encoders.base import (
    ImageTowerNotLoaded,
    ModelRef,
    ModelUnavailable,
    UnknownModel,
    root_cause,
)
from mmsearch.encoders.hf_text_towers import hf_text_cfg, hf_tokenizer
from mmsearch.encoders.hub import (
    hub_cached,
    hub_endpoint,
    require_reachable,
    use_platform_log_handlers,
)
from mmsearch.encoders.image_prep import ImagePrep, UnsupportedPreprocessing
from mmsearch.encoders.text_trim import encode_text, pooling, trim_mode
from mmsearch.encoders.torch_util import TorchImageTower, resolve_device, to_unit_numpy

log = logging.getLogger(__name__)

_CONFIG_DIR = Path(__file__).parent / "model_configs"
for _config in sorted(_CONFIG_DIR.glob("*.json")):
    open_clip.add_model_config(_config)
use_platform_log_handlers()


class OpenClipEncoder(TorchImageTower):
    """An open_clip model loaded once; fp16 on GPU, fp32 on CPU.

    `text_only`: load the text tower alone (for an API that serves text queries only). With
    real weights the image tower is never built at full size and its weights are not kept;
    with random weights the full model is built (the text tower must equal the full model's)
    and the image tower dropped.
    """

    def __init__(
        self,
        ref: ModelRef,
        device: str = "auto",
        cache_dir: Path | None = None,
        text_only: bool = False,
    ) -> None:
        if ref.arch not in open_clip.list_models():
            raise UnknownModel(f"unknown open_clip architecture {ref.arch!r}")
        self.name, self.arch = ref.name, ref.arch
        self.is_random = ref.is_random
        self.device = resolve_device(device)
        self.has_image_tower = not text_only
        precision = "fp16" if self.device.startswith("cuda") else "fp32"
        checkpoint = None if ref.is_random else _checkpoint(ref, cache_dir)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ref.seed)
            try:
                model, preprocess = _build(
                    ref, checkpoint, precision, self.device, cache_dir, text_only
                )
            except UNREADABLE as exc:
                if checkpoint is None or isinstance(exc, torch.OutOfMemoryError):
                    raise
                raise ModelUnavailable(
                    f"could not read weights file {Path(checkpoint).name}: {root_cause(exc)}"
                ) from exc
        if text_only:
            model.visual, preprocess = None, None
            gc.collect()
        model.eval()
        self._model: Any = model
        self._preprocess: Any = preprocess
        self.image_prep = None if text_only else _image_prep(model)
        hf_text = hf_text_cfg(ref.arch, cache_dir)
        self._tokenizer: Any = (
            open_clip.get_tokenizer(ref.arch) if hf_text is None else hf_tokenizer(hf_text)
        )
        self._trim = trim_mode(model)
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        self.dim = (
            int(model.text_projection.shape[1])
            if _has_text_projection(model)
            else int(self.embed_texts(["probe"]).shape[1])
        )
        scale = getattr(model, "logit_scale", None)
        self.logit_scale = float(scale.exp().item()) if isinstance(scale, torch.Tensor) else 100.0
        if self.is_random:
            log.warning("model %s has RANDOM weights: for tests and demos only", self.name)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors for texts; long texts are cut to the context length.

        Causal text towers run on the tokens up to the batch's last end-of-text only."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokenizer(list(texts)).to(self.device)
        features = encode_text(self._model, self._trim, tokens)
        return to_unit_numpy(features)

    @property
    def model(self) -> Any:
        """The open_clip model (for export)."""
        return self._model

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def trim(self) -> str | None:
        """How the text tower runs on trimmed tokens (see text_trim); None: in full."""
        return self._trim

    def text_pooling(self) -> tuple[str, int | None] | None:
        """The text tower's pool type and end-of-text id where it runs trimmed, else None."""
        return None if self._trim is None else pooling(self._model, self._trim)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Resize, crop and normalise one RGB image to the model's input tensor."""
        if self._preprocess is None:
            raise ImageTowerNotLoaded(f"{self.name} was loaded without its image tower")
        tensor: torch.Tensor = self._preprocess(image)
        return tensor

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self._model.encode_image(
            pixels.contiguous(memory_format=torch.channels_last)
        )
        return features


def _image_prep(model: Any) -> ImagePrep | None:
    """The image tower's evaluation transform as an ImagePrep (open_clip builds `preprocess`
    from the same settings); None where it cannot be reproduced without torch."""
    cfg = getattr(model.visual, "preprocess_cfg", None)
    try:
        return ImagePrep.from_config(cfg) if cfg else None
    except UnsupportedPreprocessing as exc:
        log.info("%s: images are preprocessed in the worker's threads (%s)", model, exc)
        return None


# What reading a damaged or foreign weights file raises, in safetensors, torch and open_clip.
UNREADABLE = (SafetensorError, pickle.UnpicklingError, EOFError, ValueError, RuntimeError, OSError)


def _build(
    ref: ModelRef,
    checkpoint: str | None,
    precision: str,
    device: str,
    cache_dir: Path | None,
    text_only: bool,
) -> tuple[Any, Any]:
    """The model and its preprocessing (None for a text tower built alone)."""
    # an HF text tower is built from its local config folder (see hf_text_towers)
    hf_text = hf_text_cfg(ref.arch, cache_dir)
    tower: dict[str, Any] = {} if hf_text is None else {"text_cfg": hf_text}
    if text_only and checkpoint is not None:
        return _text_tower(ref, checkpoint, precision, device, tower), None
    # A pretrained tag again, for its preprocessing (the weights are cached now).
    model, _, preprocess = open_clip.create_model_and_transforms(
        ref.arch,
        pretrained=None if ref.is_random else (ref.weights_file or ref.weights),
        precision=precision,
        device=device,
        cache_dir=str(cache_dir) if cache_dir else None,
        **tower,
    )
    return model, preprocess


def _has_text_projection(model: Any) -> bool:
    projection = getattr(model, "text_projection", None)
    return isinstance(projection, torch.Tensor) and projection.ndim == 2


# Stands in for the image tower while a text-only model is built, so no full-size one is.
_PLACEHOLDER_VISION = {
    "image_size": 32,
    "patch_size": 32,
    "width": 64,
    "layers": 1,
    "head_width": 64,
}


def _checkpoint(ref: ModelRef, cache_dir: Path | None) -> str:
    """The local path of a model's weights: its file, or its pretrained tag's download (fetched
    once into the cache); UnknownModel for a missing file or tag, ModelUnavailable when the
    download fails."""
    if ref.weights_file is not None or Path(ref.weights).is_file():  # open_clip takes a path too
        path = ref.weights_file or ref.weights
        if not Path(path).is_file():
            raise UnknownModel(f"weights file not found: {path}")
        return path
    tag = open_clip.get_pretrained_cfg(ref.arch, ref.weights)
    if not tag:
        known = open_clip.list_pretrained_tags_by_model(ref.arch)
        raise UnknownModel(
            f"unknown pretrained tag {ref.weights!r} for {ref.arch!r}; known tags: {known}"
        )
    source = tag.get("hf_hub") or tag.get("url") or ref.weights
    if not _downloaded(tag, cache_dir):
        require_reachable(hub_endpoint() if tag.get("hf_hub") else source)
    try:
        path = open_clip.download_pretrained(tag, cache_dir=str(cache_dir) if cache_dir else None)
    except Exception as exc:  # the hub's, requests' and httpx's errors alike: no weights
        where = source.rstrip("/")
        raise ModelUnavailable(
            f"could not download the weights ({where}): {root_cause(exc)}"
        ) from exc
    if not path:
        raise ModelUnavailable(f"pretrained tag {ref.weights!r} of {ref.arch!r} has no download")
    return str(path)


def _downloaded(tag: dict[str, Any], cache_dir: Path | None) -> bool:
    """Whether a pretrained tag's weights are in the cache (as open_clip names them there)."""
    if not tag.get("hf_hub"):
        folder = cache_dir or Path("~/.cache/clip").expanduser()  # open_clip's own default
        return (Path(folder) / Path(urlsplit(tag.get("url", "")).path).name).is_file()
    repo_id, filename = os.path.split(tag["hf_hub"])
    filename = filename or HF_WEIGHTS_NAME
    names = [filename, HF_SAFE_WEIGHTS_NAME, f"{Path(filename).stem}.safetensors"]
    return hub_cached(repo_id, names, cache_dir)


def _text_tower(
    ref: ModelRef, path: str, precision: str, device: str, tower: dict[str, Any]
) -> Any:
    """The model with a placeholder image tower and the checkpoint's text-side weights."""
    model = open_clip.create_model(
        ref.arch,
        pretrained=None,
        precision=precision,
        vision_cfg=dict(_PLACEHOLDER_VISION),
        **tower,
    )
    model.visual = None
    state = _text_state_dict(path)
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)  # an old checkpoint layout
    scale = state.get("logit_scale")
    if scale is not None and scale.ndim != model.logit_scale.ndim:
        state["logit_scale"] = scale.reshape(model.logit_scale.shape)
    resize_text_pos_embed(state, model)
    keys = model.load_state_dict(state, strict=False)
    if keys.missing_keys or keys.unexpected_keys:
        raise RuntimeError(
            f"{path} does not fit {ref.arch}'s text tower: missing {keys.missing_keys[:5]}, "
            f"unexpected {keys.unexpected_keys[:5]}"
        )
    return model.to(device=device)


def _text_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors outside the image tower, read lazily (memory-mapped), so the image
    tower's weights are never held in memory."""
    if path.endswith(".safetensors"):
        with safe_open(path, framework="pt") as handle:
            keys = [k for k in handle.keys() if not _is_visual(k)]  # noqa: SIM118 - not a dict
            return {k: handle.get_tensor(k) for k in keys}
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise RuntimeError(f"{path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in state.items() if not _is_visual(k)}


def _is_visual(key: str) -> bool:
    return key.removeprefix("module.").startswith("visual.")
