"""Torch helpers shared by the encoder backends."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resolve_device(device: str) -> str:
    """`auto` → cuda when present, else cpu."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def to_unit_numpy(features: torch.Tensor) -> np.ndarray:
    """L2-normalise in float32 and hand back a contiguous numpy array."""
    unit = F.normalize(features.float(), dim=-1)
    return np.ascontiguousarray(unit.cpu().numpy(), dtype=np.float32)
