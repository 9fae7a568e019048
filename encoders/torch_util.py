"""Torch helpers shared by the encoder backends."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mmsearch.encoders.base import ImageTowerNotLoaded, image_forward_lock
from mmsearch.encoders.image_prep import ImagePrep


def resolve_device(device: str) -> str:
    """`auto` → cuda when present, else cpu."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def to_unit_numpy(features: torch.Tensor) -> np.ndarray:
    """L2-normalise in float32 and hand back a contiguous numpy array."""
    unit = F.normalize(features.float(), dim=-1)
    return np.ascontiguousarray(unit.cpu().numpy(), dtype=np.float32)


_COPY_STREAMS = threading.local()


def to_device(host: torch.Tensor, device: str) -> torch.Tensor:
    """`host` on `device`. On a GPU the copy is made from pinned memory on a stream of the
    calling thread's own, so it overlaps the model running another batch; the compute stream
    waits for it before it uses the tensor."""
    if not device.startswith("cuda"):
        return host
    streams: dict[str, torch.cuda.Stream] = _COPY_STREAMS.__dict__.setdefault("by_device", {})
    stream = streams.get(device)
    if stream is None:
        stream = streams[device] = torch.cuda.Stream(device)
    with torch.cuda.stream(stream):
        on_device = host.pin_memory().to(device, non_blocking=True)
    compute = torch.cuda.current_stream(device)
    compute.wait_stream(stream)
    on_device.record_stream(compute)
    return on_device


class TorchImageTower:
    """Batched image embedding shared by the torch backends: they give `preprocess` and
    `_image_features` (the tower's forward on a pixel batch on the model's device and dtype)."""

    name: str
    dim: int
    device: str
    has_image_tower: bool
    image_prep: ImagePrep | None = None
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
        self._require_image_tower()
        pixels = to_device(torch.stack(list(batch)), self.device)
        return self._forward(pixels)

    @torch.inference_mode()
    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit vectors for resized uint8 images (see Encoder.embed_pixels):
        uploaded as bytes, scaled and normalised on the model's device."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._require_image_tower()
        prep = self.image_prep
        if prep is None:
            raise ValueError(f"{self.name} makes its image input with its own processor")
        on_device = to_device(torch.from_numpy(np.ascontiguousarray(pixels)), self.device)
        # torchvision's ToTensor then Normalize, op for op: the same values as `preprocess`.
        scaled = on_device.permute(0, 3, 1, 2).float().div(255)
        mean = torch.tensor(prep.mean, dtype=torch.float32, device=self.device)[:, None, None]
        std = torch.tensor(prep.std, dtype=torch.float32, device=self.device)[:, None, None]
        return self._forward(scaled.sub(mean).div(std))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 unit vectors for decoded images."""
        return self.embed_preprocessed([self.preprocess(image) for image in images])

    def _require_image_tower(self) -> None:
        if not self.has_image_tower:
            raise ImageTowerNotLoaded(f"{self.name} was loaded without its image tower")

    def _forward(self, pixels: torch.Tensor) -> np.ndarray:
        with image_forward_lock(self.device):
            return to_unit_numpy(self._image_features(pixels.to(dtype=self._dtype)))
