"""open_clip models behind the Encoder protocol."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from encoders.base import ModelRef, UnknownModel
from encoders.torch_util import resolve_device, to_unit_numpy

log = logging.getLogger(__name__)

_CONFIG_DIR = Path(__file__).parent / "model_configs"
for _config in sorted(_CONFIG_DIR.glob("*.json")):
    open_clip.add_model_config(_config)


class OpenClipEncoder:
    """An open_clip model loaded once; fp16 on GPU, fp32 on CPU."""

    def __init__(self, ref: ModelRef, device: str = "auto", cache_dir: Path | None = None) -> None:
        if ref.arch not in open_clip.list_models():
            raise UnknownModel(f"unknown open_clip architecture {ref.arch!r}")
        self.name = ref.name
        self.is_random = ref.is_random
        self.device = resolve_device(device)
        precision = "fp16" if self.device.startswith("cuda") else "fp32"
        pretrained: str | None = None if ref.is_random else (ref.weights_file or ref.weights)
        if ref.weights_file is not None and not Path(ref.weights_file).is_file():
            raise UnknownModel(f"weights file not found: {ref.weights_file}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ref.seed)
            model, _, preprocess = open_clip.create_model_and_transforms(
                ref.arch,
                pretrained=pretrained,
                precision=precision,
                device=self.device,
                cache_dir=str(cache_dir) if cache_dir else None,
            )
        model.eval()
        self._model: Any = model
        self._preprocess: Any = preprocess
        self._tokenizer: Any = open_clip.get_tokenizer(ref.arch)
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
        else:
            log.info("loaded model %s on %s (%s)", self.name, self.device, precision)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors for texts; long texts are cut to the context length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokenizer(list(texts)).to(self.device)
        features = self._model.encode_text(tokens)
        return to_unit_numpy(features)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Resize, crop and normalise one RGB image to the model's input tensor."""
        tensor: torch.Tensor = self._preprocess(image)
        return tensor

    @torch.inference_mode()
    def embed_preprocessed(self, batch: Sequence[torch.Tensor]) -> np.ndarray:
        """(n, dim) float32 unit vectors for preprocessed image tensors."""
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        pixels = torch.stack(list(batch))
        if self.device.startswith("cuda"):
            pixels = pixels.pin_memory().to(self.device, non_blocking=True)
        pixels = pixels.to(dtype=self._dtype).contiguous(memory_format=torch.channels_last)
        features = self._model.encode_image(pixels)
        return to_unit_numpy(features)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 unit vectors for decoded images."""
        return self.embed_preprocessed([self.preprocess(image) for image in images])


def _has_text_projection(model: Any) -> bool:
    projection = getattr(model, "text_projection", None)
    return isinstance(projection, torch.Tensor) and projection.ndim == 2
