"""The tiny open_clip model on CUDA (fp16) gives the vectors it gives on the CPU (fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmsearch.encoders import TINY_TEST_MODEL, get_encoder
from mmsearch.infra.testing.photos import decode, generated_photos

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA device: torch.cuda.is_available() is false",
    ),
]

TEXTS = ["a red circle", "two blue squares on a green field", "x " * 200]


def test_tiny_model_on_cuda_matches_the_cpu() -> None:
    cpu = get_encoder(TINY_TEST_MODEL, device="cpu")
    cuda = get_encoder(TINY_TEST_MODEL, device="cuda")
    assert cuda.device.startswith("cuda") and cuda.dim == cpu.dim
    images = [decode(p.data) for p in generated_photos(8)]
    pairs = {
        "texts": (cpu.embed_texts(TEXTS), cuda.embed_texts(TEXTS)),
        "images": (cpu.embed_images(images), cuda.embed_images(images)),
    }
    for kind, (on_cpu, on_cuda) in pairs.items():
        assert on_cuda.dtype == np.float32 and on_cuda.shape == on_cpu.shape, kind
        np.testing.assert_allclose(np.linalg.norm(on_cuda, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(on_cuda, on_cpu, atol=2e-2, err_msg=kind)
        assert (on_cuda * on_cpu).sum(axis=1).min() > 0.999, kind
    assert not np.allclose(pairs["images"][1][0], pairs["images"][1][1])  # not one constant vector
