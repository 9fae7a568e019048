"""Torch helpers shared by the encoder backends."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mmsearch.encoders.base import ImageTowerNotLoaded


def resolve_device(device: str) -> str:
    """`auto` → cuda when present, else cpu."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def to_unit_numpy(features: torch.Tensor) -> np.ndarray:
    """L2-normalise in float32 and hand back a contiguous numpy array."""
    unit = F.normalize(features.float(), dim=-1)
    return np.ascontiguousarray(unit.cpu().numpy(), dtype=np.float32)


class TorchImageTower:
    """Batched image embedding shared by the torch backends: they give `preprocess` and
    `_image_features` (the tower's forward on a pixel batch on the model's device and dtype)."""

    name: str
    dim: int
    device: str
    has_image_tower: bool
    _dtype: torch.dtype

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        raise NotImplementedError

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.inference_mode()
    def embed_preprocessed(self, batch: Sequence[torch.Tensor]) -> np.ndarray:
        """(n, dim) float32 unit vectors for preprocessed image tensors."""
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not self.has_image_tower:
            raise ImageTowerNotLoaded(f"{self.name} was loaded without its image tower")
        pixels = torch.stack(list(batch))
        if self.device.startswith("cuda"):
            pixels = pixels.pin_memory().to(self.device, non_blocking=True)
        return to_unit_numpy(self._image_features(pixels.to(dtype=self._dtype)))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 unit vectors for decoded images."""
        return self.embed_preprocessed([self.preprocess(image) for image in images])
